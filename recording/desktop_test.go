package recording

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRenderGuac(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.journal")
	start := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	j, err := CreateJournal(path, Meta{SessionID: "alice-0123456789abcdef0", Start: start, Port: true, Desktop: true, Sealed: &Sealed{KeyARN: "prn:postern:kms:000000000001:key/k", WrappedKey: []byte("w")}}, testKey(t, 7))
	if err != nil {
		t.Fatal(err)
	}
	login, _ := EncodeDesktop(DesktopInfo{User: "alice", Domain: "CORP", Security: "nla"})
	connected, _ := EncodeDesktop(DesktopInfo{Connected: true, Certificate: "ab12", Width: 1024, Height: 768})
	frames := []string{"4.size,1.0,4.1024,3.768;", "3.img,1.1,2.14,1.0,9.image/png,1.0,1.0;4.blob,1.1,4.AAAA;3.end,1.1;4.sync,13.1765015200000;"}
	recs := []Record{
		{Seq: 1, Time: 0, Kind: KindDesktop, Data: login},
		{Seq: 2, Time: time.Second, Kind: KindDesktop, Data: connected},
		{Seq: 3, Time: time.Second, Kind: KindDisplay, Data: []byte(frames[0])},
		{Seq: 4, Time: 2 * time.Second, Kind: KindKey, Data: []byte("3.key,5.65307,1.1;")},
		{Seq: 5, Time: 3 * time.Second, Kind: KindDisplay, Data: []byte(frames[1])},
		{Seq: 6, Time: 4 * time.Second, Kind: KindExit, Data: []byte("TerminatedByUser")},
	}
	for _, r := range recs {
		if _, err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sum, err := RenderGuac(path, testKey(t, 7), &out)
	if err != nil {
		t.Fatal(err)
	}
	want := frames[0] + frames[1]
	if out.String() != want {
		t.Fatalf("recording = %q, want the display records only, in order: %q", out.String(), want)
	}
	h := sha256.Sum256([]byte(want))
	if sum.Bytes != int64(len(want)) || sum.SHA256 != hex.EncodeToString(h[:]) || sum.Length != 4*time.Second {
		t.Errorf("summary = %+v", sum)
	}
	if want := (DesktopInfo{User: "alice", Domain: "CORP", Security: "nla", Certificate: "ab12", Width: 1024, Height: 768, Connected: true}); sum.Desktop != want {
		t.Errorf("summary's desktop = %+v, want the login's and the connection's facts together: %+v", sum.Desktop, want)
	}
	// The transcript is a port session's, with the desktop's facts.
	var log bytes.Buffer
	if err := RenderJournal(path, testKey(t, 7), nil, &log); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{`desktop login as CORP\alice, security nla`, "desktop connected as (signed in on the desktop's own screen), 1024x768, certificate sha256 ab12"} {
		if !strings.Contains(log.String(), line) {
			t.Errorf("transcript lacks %q:\n%s", line, log.String())
		}
	}
	if strings.Contains(log.String(), "65307") || strings.Contains(log.String(), "image/png") {
		t.Errorf("transcript shows key or display records:\n%s", log.String())
	}
}
