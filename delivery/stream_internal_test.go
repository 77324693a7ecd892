package delivery

import (
	"bytes"
	"context"
	"crypto/cipher"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/postern/postern/clocktest"
	"github.com/postern/postern/cwlogs"
	"github.com/postern/postern/cwlogs/cwlogstest"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
)

// TestStreamEventsSplit checks that lines are packed into events under the
// size limit and that a line longer than an event is cut, never inside a
// UTF-8 character.
func TestStreamEventsSplit(t *testing.T) {
	ctx := context.Background()
	fake := cwlogstest.NewServer()
	defer fake.Close()
	cw, err := cwlogs.New(ctx, cwlogs.Config{Endpoint: fake.URL(), Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	createGroup(t, fake, "group")
	// The deliverer alone, with only what sending lines uses.
	d := New(Deps{Now: time.Now, Limits: StreamLimits{MaxEvent: 1000}})
	long := strings.Repeat("é", 1500) // 3000 bytes
	if err := d.sendLines(ctx, CloudWatchLogs{Client: cw}, CloudWatchTarget{LogGroup: "group"}, "s", &SessionEvent{}, []string{"short", long, "after"}); err != nil {
		t.Fatal(err)
	}
	var joined strings.Builder
	events := fake.Events("group", "s")
	for _, ev := range events {
		var m SessionEvent
		if err := json.Unmarshal([]byte(ev.Message), &m); err != nil {
			t.Fatal(err)
		}
		for _, l := range m.SessionData {
			if !utf8.ValidString(l) || strings.ContainsRune(l, utf8.RuneError) {
				t.Fatalf("line cut inside a character: %q", l)
			}
			joined.WriteString(l)
		}
	}
	if joined.String() != "short"+long+"after" {
		t.Errorf("lines lost or reordered")
	}
	if len(events) < 4 {
		t.Errorf("%d events for 3000+ bytes with a 1000-byte limit", len(events))
	}
}

func createGroup(t *testing.T, fake *cwlogstest.Server, name string) {
	t.Helper()
	c := cloudwatchlogs.New(cloudwatchlogs.Options{Region: "us-east-1", BaseEndpoint: aws.String(fake.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")})
	if _, err := c.CreateLogGroup(context.Background(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
}

// TestStreamAgainSendsNothingTwice: a stream run again over a session it
// already sent to the end (the worker may start a finished streamed
// delivery again when the session's end releases it) sends nothing: not
// the lines, and not the command its exit record closed.
func TestStreamAgainSendsNothingTwice(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clocktest.New(time.Now().Truncate(time.Millisecond))
	const account, id = store.DefaultAccount, "alice-00000000000000002"
	if err := st.EnsureAccount(ctx, store.Account{ID: account, Name: "default", CreatedAt: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	code := 0
	if err := st.CreateSession(ctx, store.Session{ID: id, Account: account, Owner: "alice", Target: "mi-00000000000000001",
		Status: store.StatusTerminated, StartedAt: clk.Now(), EndedAt: clk.Now().Add(time.Second), ExitCode: &code}); err != nil {
		t.Fatal(err)
	}
	jpath := filepath.Join(dir, id+".journal")
	j, err := recording.CreateJournal(jpath, recording.Meta{SessionID: id, Start: clk.Now(), Width: 80, Height: 24}, nil)
	if err != nil {
		t.Fatal(err)
	}
	prompt := "\x1b]133;A\x07$ \x1b]133;B\x07"
	for i, r := range []recording.Record{
		{Kind: recording.KindOutput, Data: []byte(prompt + "echo hi\r\n\x1b]133;C\x07hi\r\n\x1b]133;D;0\x07")},
		{Kind: recording.KindOutput, Data: []byte(prompt + "exit\r\n\x1b]133;C\x07exit\r\n")},
		{Kind: recording.KindExit},
	} {
		r.Seq, r.Time = uint64(i+1), time.Duration(i)*time.Millisecond
		if _, err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	fake := cwlogstest.NewServer()
	defer fake.Close()
	cw, err := cwlogs.New(ctx, cwlogs.Config{Endpoint: fake.URL(), Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	createGroup(t, fake, "audit")
	d := New(Deps{
		Store: st, Now: clk.Now, Logf: t.Logf,
		JournalPath:  func(string, string) string { return jpath },
		JournalKey:   func(context.Context, string, string) (cipher.AEAD, error) { return nil, nil },
		SessionEnded: func(context.Context, string) bool { return true },
		Limits:       StreamLimits{MaxEvent: 64 << 10},
	})
	dl := &store.Delivery{Account: account, SessionID: id, Destination: "cloudwatch", Artifact: "events", Target: `{"logGroup":"audit","streaming":true}`,
		Status: store.DeliveryPending, CreatedAt: clk.Now(), UpdatedAt: clk.Now(), NextAttempt: clk.Now()}
	if err := st.CreateDeliveries(ctx, []store.Delivery{*dl}); err != nil {
		t.Fatal(err)
	}
	commands := func() []string {
		var out []string
		for _, e := range fake.Events("audit", id) {
			var m struct {
				EventType string `json:"eventType"`
				Command   string `json:"command"`
			}
			if err := json.Unmarshal([]byte(e.Message), &m); err != nil {
				t.Fatal(err)
			}
			if m.EventType == "Command" {
				out = append(out, m.Command)
			}
		}
		return out
	}
	target := CloudWatchTarget{Account: account, LogGroup: "audit", Streaming: true}
	if err := d.Stream(ctx, dl, CloudWatchLogs{Client: cw}, target); err != nil {
		t.Fatal(err)
	}
	first, events := commands(), len(fake.Events("audit", id))
	if strings.Join(first, ",") != "echo hi,exit" || dl.Cursor != 3 {
		t.Fatalf("first run: commands %q, cursor %d; want echo hi and exit, cursor 3", first, dl.Cursor)
	}
	if err := d.Stream(ctx, dl, CloudWatchLogs{Client: cw}, target); err != nil {
		t.Fatal(err)
	}
	if got := len(fake.Events("audit", id)); got != events {
		t.Errorf("the second run sent %d more events (commands now %q)", got-events, commands())
	}
}

// TestStreamFetchesTheEndOfARemoteSession: a session relayed by another
// server ended while this one streamed the part of its journal it had
// fetched; the stream fetches again once the session has ended and sends
// the rest, rather than ending with what it had.
func TestStreamFetchesTheEndOfARemoteSession(t *testing.T) {
	ctx := t.Context()
	const account, id = store.DefaultAccount, "alice-00000000000000005"
	st, clk, dir := endedSession(t, id)
	out := func(s string) recording.Record { return recording.Record{Kind: recording.KindOutput, Data: []byte(s)} }
	partial, full := filepath.Join(dir, "partial.journal"), filepath.Join(dir, "full.journal")
	writeJournal(t, partial, id, clk.Now(), out("line one\r\n"), out("line two\r\n"))
	writeJournal(t, full, id, clk.Now(), out("line one\r\n"), out("line two\r\n"), out("line three\r\n"), recording.Record{Kind: recording.KindExit})
	early, err := os.ReadFile(partial)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(whole, early) {
		t.Fatal("the partial journal is not a prefix of the whole")
	}
	local := filepath.Join(dir, id+".journal")
	if err := os.WriteFile(local, early, 0o600); err != nil { // what deliver fetched while it ran
		t.Fatal(err)
	}
	fetches := 0
	fake := cwlogstest.NewServer()
	defer fake.Close()
	cw, err := cwlogs.New(ctx, cwlogs.Config{Endpoint: fake.URL(), Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	createGroup(t, fake, "audit")
	d := New(Deps{
		Store: st, Now: clk.Now, Logf: t.Logf,
		JournalPath:  func(string, string) string { return local },
		JournalKey:   func(context.Context, string, string) (cipher.AEAD, error) { return nil, nil },
		SessionEnded: func(context.Context, string) bool { return true },
		// As journalstore's Fetch does: what the bucket holds beyond
		// the local copy is appended to it.
		FetchJournal: func(context.Context, string, string) error {
			fetches++
			f, err := os.OpenFile(local, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write(whole[len(early):])
			early = whole
			return err
		},
		Limits: StreamLimits{MaxEvent: 64 << 10},
	})
	dl := &store.Delivery{Account: account, SessionID: id, Destination: "cloudwatch", Artifact: "events", Target: `{"logGroup":"audit","streaming":true}`,
		Status: store.DeliveryPending, CreatedAt: clk.Now(), UpdatedAt: clk.Now(), NextAttempt: clk.Now()}
	if err := st.CreateDeliveries(ctx, []store.Delivery{*dl}); err != nil {
		t.Fatal(err)
	}
	if err := d.Stream(ctx, dl, CloudWatchLogs{Client: cw}, CloudWatchTarget{Account: account, LogGroup: "audit", Streaming: true}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range fake.Events("audit", id) {
		got = append(got, e.Message)
	}
	if all := strings.Join(got, "\n"); fetches != 1 || !strings.Contains(all, "line three") || dl.Cursor != 4 {
		t.Errorf("after %d fetches, cursor %d, streamed:\n%s\nwant one fetch, cursor 4 and line three", fetches, dl.Cursor, all)
	}
}
