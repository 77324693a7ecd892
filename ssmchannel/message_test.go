package ssmchannel

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testMessage() Message {
	return Message{
		Type: OutputStreamData, SchemaVersion: 1, Created: time.UnixMilli(1765000000123).UTC(), Seq: 7, Flags: 1,
		ID:          [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0x4c, 0xde, 0x8f, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd},
		PayloadType: PayloadOutput, Payload: []byte("hello\r\n"),
	}
}

// TestLayout pins the bytes the plugin reads (src/message/messageparser.go).
func TestLayout(t *testing.T) {
	m := testMessage()
	b := m.Marshal()
	if len(b) != 120+7 {
		t.Fatalf("frame of %d bytes", len(b))
	}
	if binary.BigEndian.Uint32(b) != 116 {
		t.Errorf("header length %d", binary.BigEndian.Uint32(b))
	}
	if got := string(b[4:36]); got != "output_stream_data              " {
		t.Errorf("type field %q: want space padding", got)
	}
	if binary.BigEndian.Uint64(b[40:]) != 1765000000123 || binary.BigEndian.Uint64(b[48:]) != 7 {
		t.Errorf("created or sequence number")
	}
	// The UUID's halves are swapped on the wire.
	if !bytes.Equal(b[64:72], m.ID[8:]) || !bytes.Equal(b[72:80], m.ID[:8]) {
		t.Errorf("message id on the wire % x", b[64:80])
	}
	if sum := sha256.Sum256([]byte("hello\r\n")); !bytes.Equal(b[80:112], sum[:]) {
		t.Errorf("digest")
	}
	if binary.BigEndian.Uint32(b[112:]) != 1 || binary.BigEndian.Uint32(b[116:]) != 7 || string(b[120:]) != "hello\r\n" {
		t.Errorf("payload type, length or payload")
	}
	if UUID(m.ID) != "01234567-89ab-4cde-8f01-23456789abcd" {
		t.Errorf("UUID = %s", UUID(m.ID))
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range []Message{testMessage(), {Type: Acknowledge, SchemaVersion: 1, Created: time.UnixMilli(1).UTC(), Flags: 3, Payload: []byte(`{}`)}, {Type: ChannelClosed, Created: time.UnixMilli(5).UTC(), Payload: []byte{}}} {
		got, err := Unmarshal(m.Marshal())
		if err != nil {
			t.Fatalf("%s: %v", m.Type, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip:\n%+v\nwant\n%+v", got, m)
		}
	}
	// NUL padding, which the plugin also reads, is read too.
	b := testMessage().Marshal()
	for i := 4 + len(OutputStreamData); i < 36; i++ {
		b[i] = 0
	}
	if m, err := Unmarshal(b); err != nil || m.Type != OutputStreamData {
		t.Errorf("NUL-padded type: %q, %v", m.Type, err)
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	good := testMessage().Marshal()
	for name, tc := range map[string]struct {
		edit func([]byte) []byte
		want string
	}{
		"short":              {func(b []byte) []byte { return b[:100] }, "shorter than a header"},
		"header length":      {func(b []byte) []byte { binary.BigEndian.PutUint32(b, 112); return b }, "header length 112"},
		"trailing bytes":     {func(b []byte) []byte { return append(b, 'x') }, "payload length 7, but 8 bytes"},
		"payload length":     {func(b []byte) []byte { binary.BigEndian.PutUint32(b[116:], 1<<31); return b }, "payload length 2147483648"},
		"digest":             {func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, "digest"},
		"control in type":    {func(b []byte) []byte { b[5] = '\n'; return b }, "not printable"},
		"oversized payload":  {func([]byte) []byte { m := testMessage(); m.Payload = make([]byte, MaxPayload+1); return m.Marshal() }, "more than"},
		"empty payload hash": {func([]byte) []byte { m := testMessage(); m.Payload = nil; b := m.Marshal(); b[80] ^= 1; return b }, "digest"},
	} {
		_, err := Unmarshal(tc.edit(bytes.Clone(good)))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want ErrMalformed saying %q", name, err, tc.want)
		}
	}
}

// FuzzUnmarshal: no frame panics the decoder, and a frame it accepts
// encodes back to the same bytes (but for the type's padding).
func FuzzUnmarshal(f *testing.F) {
	f.Add(testMessage().Marshal())
	f.Add((&Message{Type: Acknowledge, Payload: []byte(`{"AcknowledgedMessageSequenceNumber":1}`)}).Marshal())
	f.Add(make([]byte, 120))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b)
		if err != nil {
			return
		}
		again, err := Unmarshal(m.Marshal())
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encoded %+v decodes as %+v, %v", m, again, err)
		}
	})
}
