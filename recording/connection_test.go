package recording

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var connStart = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

func sampleConnections() []Connection {
	return []Connection{
		{ID: 1, Event: ConnectionOpened, Client: "192.0.2.7:50312", Host: "localhost", Port: 22, Start: connStart},
		{ID: 2, Event: ConnectionClosed, Client: "192.0.2.7:50313", Host: "db.internal", Port: 5432, Start: connStart.Add(time.Second), End: connStart.Add(time.Second),
			CloseReason: "ConnectFailed", Detail: "could not connect to db.internal:5432: connection refused"},
		{ID: 1, Event: ConnectionClosed, Client: "192.0.2.7:50312", Host: "localhost", Port: 22, Start: connStart, End: connStart.Add(2500 * time.Millisecond),
			BytesFromClient: 3021, BytesFromTarget: 48213, CloseReason: "ClientClosed"},
		{ID: 3, Event: ConnectionClosed, Client: "[2001:db8::1]:4000", Host: "2001:db8::2", Port: 80, Start: connStart, End: connStart.Add(time.Minute),
			BytesUnknown: true, CloseReason: "ServerRestarted"},
	}
}

func TestConnectionRoundTrip(t *testing.T) {
	for _, c := range sampleConnections() {
		b, err := EncodeConnection(c)
		if err != nil {
			t.Fatalf("EncodeConnection(%+v): %v", c, err)
		}
		got, err := ParseConnection(b)
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Errorf("ParseConnection(%s) = %+v, %v; want %+v", b, got, err, c)
		}
	}
}

// A record over its bounds is cut, not lost: an error message from the
// node can be anything.
func TestEncodeConnectionClips(t *testing.T) {
	c := sampleConnections()[1]
	c.Detail = strings.Repeat("é", 5000)
	b, err := EncodeConnection(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseConnection(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Detail) > maxConnDetail || len(got.Detail) < maxConnDetail-1 || !utf8.ValidString(got.Detail) {
		t.Errorf("detail of %d bytes (valid UTF-8: %v), want it cut to %d at a character", len(got.Detail), utf8.ValidString(got.Detail), maxConnDetail)
	}
}

func TestParseConnectionRejects(t *testing.T) {
	for _, tt := range []struct{ name, data, want string }{
		{"not JSON", `{"id":1`, "unexpected end"},
		{"no id", `{"event":"ConnectionOpened","clientAddress":"a","targetHost":"h","targetPort":1,"startTime":"2026-12-06T10:00:00Z"}`, "ids start at 1"},
		{"unknown event", `{"id":1,"event":"Opened","targetPort":1,"startTime":"2026-12-06T10:00:00Z"}`, `event "Opened"`},
		{"port 0", `{"id":1,"event":"ConnectionOpened","targetPort":0,"startTime":"2026-12-06T10:00:00Z"}`, "target port 0"},
		{"port too high", `{"id":1,"event":"ConnectionOpened","targetPort":65536,"startTime":"2026-12-06T10:00:00Z"}`, "target port 65536"},
		{"negative bytes", `{"id":1,"event":"ConnectionClosed","targetPort":1,"startTime":"2026-12-06T10:00:00Z","endTime":"2026-12-06T10:00:01Z","closeReason":"X","bytesFromClient":-1}`, "negative"},
		{"no start", `{"id":1,"event":"ConnectionOpened","targetPort":1}`, "no start time"},
		{"opened with bytes", `{"id":1,"event":"ConnectionOpened","targetPort":1,"startTime":"2026-12-06T10:00:00Z","bytesFromTarget":5}`, "no end"},
		{"closed without reason", `{"id":1,"event":"ConnectionClosed","targetPort":1,"startTime":"2026-12-06T10:00:00Z","endTime":"2026-12-06T10:00:01Z"}`, "close reason"},
		{"closed before it started", `{"id":1,"event":"ConnectionClosed","targetPort":1,"startTime":"2026-12-06T10:00:00Z","endTime":"2026-12-06T09:00:00Z","closeReason":"X"}`, "before it started"},
		{"overlong reason", `{"id":1,"event":"ConnectionClosed","targetPort":1,"startTime":"2026-12-06T10:00:00Z","endTime":"2026-12-06T10:00:01Z","closeReason":"` + strings.Repeat("x", 65) + `"}`, "exceeds its bound"},
		{"huge", `{"id":1,"detail":"` + strings.Repeat("x", maxConnRecord) + `"}`, "exceeds"},
	} {
		_, err := ParseConnection([]byte(tt.data))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParseConnection = %v, want an error saying %q", tt.name, err, tt.want)
		}
	}
}

func TestConnectionText(t *testing.T) {
	cs := sampleConnections()
	for i, want := range []string{
		"connection 1 from 192.0.2.7:50312 to localhost:22 opened",
		"connection 2 from 192.0.2.7:50313 to db.internal:5432 closed (ConnectFailed) after 0s: 0 bytes from the client, 0 from the target; could not connect to db.internal:5432: connection refused",
		"connection 1 from 192.0.2.7:50312 to localhost:22 closed (ClientClosed) after 2.5s: 3021 bytes from the client, 48213 from the target",
		"connection 3 from [2001:db8::1]:4000 to [2001:db8::2]:80 closed (ServerRestarted) after 1m0s: bytes not counted",
	} {
		if got := cs[i].Text(); got != want {
			t.Errorf("Text() = %q\nwant     %q", got, want)
		}
	}
}

func TestConnectionsFold(t *testing.T) {
	var cs Connections
	for _, c := range sampleConnections() {
		cs.Add(c)
	}
	// A late opened record never replaces a closed one.
	cs.Add(sampleConnections()[0])
	got := cs.List()
	if len(got) != 3 || got[0].ID != 1 || got[0].Event != ConnectionClosed || got[0].BytesFromTarget != 48213 ||
		got[1].ID != 2 || got[1].CloseReason != "ConnectFailed" || got[2].ID != 3 || cs.MaxID() != 3 {
		t.Errorf("folded connections: %+v", got)
	}
}

// A port session's journal renders as the list of its connections, in the
// transcript a line each and in the .cast a marker each.
func TestRenderPortJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "port.journal")
	j, err := CreateJournal(path, Meta{SessionID: "alice-0123456789abcdef0", Start: connStart, Port: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs := []Record{{Seq: 1, Kind: KindMarker, Data: []byte("port forwarding to localhost:22")}}
	for i, c := range sampleConnections()[:3] {
		b, err := EncodeConnection(c)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, Record{Seq: uint64(i + 2), Time: time.Duration(i+1) * time.Second, Kind: KindConnection, Data: b})
	}
	recs = append(recs, Record{Seq: 5, Time: 4 * time.Second, Kind: KindExit, Data: []byte("ConnectionClosed")})
	for _, r := range recs {
		if _, err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	var cast, log bytes.Buffer
	if err := RenderJournal(path, nil, &cast, &log); err != nil {
		t.Fatal(err)
	}
	want := `Script started on 2026-12-06 10:00:00+00:00 [<not executed on terminal>]
2026-12-06T10:00:00Z port forwarding to localhost:22
2026-12-06T10:00:01Z connection 1 from 192.0.2.7:50312 to localhost:22 opened
2026-12-06T10:00:02Z connection 2 from 192.0.2.7:50313 to db.internal:5432 closed (ConnectFailed) after 0s: 0 bytes from the client, 0 from the target; could not connect to db.internal:5432: connection refused
2026-12-06T10:00:03Z connection 1 from 192.0.2.7:50312 to localhost:22 closed (ClientClosed) after 2.5s: 3021 bytes from the client, 48213 from the target
Script done on 2026-12-06 10:00:04+00:00 [COMMAND_EXIT_CODE="0"]
`
	if log.String() != want {
		t.Errorf("transcript:\n%s\nwant:\n%s", log.String(), want)
	}
	_, events, err := ReadCast(bytes.NewReader(cast.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var markers []string
	for _, e := range events {
		if e.Type == EventMarker {
			markers = append(markers, e.Data)
		}
	}
	if len(markers) != 4 || markers[1] != sampleConnections()[0].Text() || markers[3] != sampleConnections()[2].Text() {
		t.Errorf("cast markers: %q", markers)
	}
}

func FuzzParseConnection(f *testing.F) {
	for _, c := range sampleConnections() {
		f.Add(must(EncodeConnection(c)))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":1,"event":"ConnectionClosed","targetPort":1,"startTime":"2026-12-06T10:00:00Z","endTime":"2026-12-06T09:00:00Z","closeReason":"X"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConnection(data)
		if err != nil {
			return
		}
		// What parses encodes to what parses the same, and has a line.
		b, err := EncodeConnection(c)
		if err != nil {
			t.Fatalf("parsed %+v but cannot encode it: %v", c, err)
		}
		c2, err := ParseConnection(b)
		if err != nil || !reflect.DeepEqual(normalTimes(c), normalTimes(c2)) {
			t.Fatalf("round trip: %+v -> %+v, %v", c, c2, err)
		}
		if strings.ContainsAny(sanitizeLine(c.Text()), "\n\r\x1b") {
			t.Fatalf("a connection's line breaks the transcript: %q", c.Text())
		}
	})
}

// normalTimes drops what JSON does not keep of a time (its location's
// name, monotonic readings), for comparing after a round trip.
func normalTimes(c Connection) Connection {
	c.Start, c.End = c.Start.UTC(), c.End.UTC()
	return c
}
