package server

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/postern/postern/logstore"
)

func TestSplitMessage(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want []string
	}{
		{"empty", "", 4, []string{""}},
		{"fits", "abcd", 4, []string{"abcd"}},
		{"cut", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"not inside a character", "aéé", 4, []string{"aé", "é"}},
		{"exact multiple", "abcdefgh", 4, []string{"abcd", "efgh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitMessage(tt.in, tt.max)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("splitMessage(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
			for _, p := range got {
				if len(p) > tt.max || !utf8.ValidString(p) {
					t.Errorf("piece %q: %d bytes or invalid UTF-8", p, len(p))
				}
			}
		})
	}
}

// batchRecorder passes writes on to a real log store and remembers the
// largest batch it was given.
type batchRecorder struct {
	LogStore
	maxBatch int
}

func (r *batchRecorder) note(events []logstore.Event) {
	n := 0
	for _, e := range events {
		n += len(e.Message)
	}
	r.maxBatch = max(r.maxBatch, n)
}

func (r *batchRecorder) PutEvents(ctx context.Context, account, group, stream string, events []logstore.Event) error {
	r.note(events)
	return r.LogStore.PutEvents(ctx, account, group, stream, events)
}

func (r *batchRecorder) ReplaceStream(ctx context.Context, account, group, stream string, events []logstore.Event) error {
	r.note(events)
	return r.LogStore.ReplaceStream(ctx, account, group, stream, events)
}

// TestPutTranscriptStreams: a transcript of many megabytes, with a line
// far longer than an event and characters cut at the read buffer's edge,
// is stored whole (every line, in order, no character broken), a retry
// replaces rather than doubles it, and it is never held in memory at once:
// the store is handed batches of about transcriptBatch.
func TestPutTranscriptStreams(t *testing.T) {
	ctx := t.Context()
	ls, err := logstore.Open(ctx, filepath.Join(t.TempDir(), "logs.db"), logstore.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	const account, group = "000000000001", "transcripts"
	if err := ls.CreateGroup(ctx, logstore.Group{Account: account, Name: group, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var want []string
	var body bytes.Buffer
	for i := range 100000 {
		l := fmt.Sprintf("line %d of the transcript, with é and 世界", i)
		want = append(want, l)
		body.WriteString(l + "\n")
	}
	// A 1 MB line of three-byte characters: pieces are cut between them.
	long := strings.Repeat("世", 350000)
	body.WriteString(long + "\n")
	body.WriteString("\nlast line without a newline")
	rec := &batchRecorder{LogStore: ls}
	b := builtinLogs{ls: rec, s: &Server{metricFilters: newMetricFilters(0, t.Logf)}}
	target := CloudWatchTarget{Account: account, LogGroup: group}
	for attempt := range 2 {
		if _, err := b.PutTranscript(ctx, target, "s1", time.Now(), bytes.NewReader(body.Bytes())); err != nil {
			t.Fatal(err)
		}
		evs, err := ls.Events(ctx, account, group, "s1", 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		var longGot strings.Builder
		for _, e := range evs {
			if !utf8.ValidString(e.Message) || len(e.Message) > logstore.MaxMessageBytes {
				t.Fatalf("attempt %d: an event of %d bytes, valid UTF-8 %v", attempt, len(e.Message), utf8.ValidString(e.Message))
			}
			if strings.HasPrefix(e.Message, "世") {
				longGot.WriteString(e.Message)
				continue
			}
			got = append(got, e.Message)
		}
		wantAll := append(append([]string(nil), want...), "", "last line without a newline")
		if strings.Join(got, "\n") != strings.Join(wantAll, "\n") || longGot.String() != long {
			t.Fatalf("attempt %d: %d events (the long line %d bytes, want %d); the lines differ", attempt, len(evs), longGot.Len(), len(long))
		}
	}
	if rec.maxBatch > transcriptBatch+logstore.MaxMessageBytes {
		t.Fatalf("the store was handed a batch of %d bytes; PutTranscript must not hold the transcript (%d bytes) at once", rec.maxBatch, body.Len())
	}
}
