package subscriptions

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/clocktest"
	"github.com/postern/postern/firehose"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/searchindex"
	"github.com/postern/postern/webhook"
)

// TestSources builds the worker's sources from a real log store: filters
// whose stream exists, with their cursors, and an archive's members'
// groups that its names and prefixes pick.
func TestSources(t *testing.T) {
	ctx := context.Background()
	clock := clocktest.New(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	ls, err := logstore.Open(ctx, filepath.Join(t.TempDir(), "logs.db"), logstore.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close() })
	const a, b = "111111111111", "222222222222"
	for _, g := range []struct{ account, name string }{{a, "/postern/sessions"}, {a, "/app/web"}, {a, "/other"}, {b, "/app/db"}} {
		if err := ls.CreateGroup(ctx, logstore.Group{Account: g.account, Name: g.name}); err != nil {
			t.Fatal(err)
		}
	}
	s := firehose.Stream{Account: a, Name: "s", Bucket: "b", BufferInterval: time.Minute}
	s.Defaults()
	if err := ls.CreateDeliveryStream(ctx, logstore.DeliveryStream{Account: a, Name: "s", Settings: `{"Bucket":"b","BufferBytes":5242880,"BufferInterval":60000000000,"Compression":"GZIP"}`}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []logstore.SubscriptionFilter{
		{Account: a, Group: "/other", Name: "live", Pattern: "ERROR", DestinationARN: s.ARN()},
		{Account: a, Group: "/app/web", Name: "gone", DestinationARN: firehose.Stream{Account: a, Name: "deleted"}.ARN()},
	} {
		if err := ls.PutSubscriptionFilter(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := ls.SaveCursor(ctx, b, "/app/db", ArchiveCursor, 7); err != nil {
		t.Fatal(err)
	}
	h := New(Deps{Logs: ls, Now: clock.Now, Archives: func(context.Context) ([]Archive, error) {
		return []Archive{{Org: "o-aaaaaaaaaa", Account: b, Bucket: "archive", Prefix: "central", Interval: 0, Members: []string{a, b}, Groups: []string{"/postern/sessions", "/app/*"}}}, nil
	}})
	srcs, err := h.Sources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, src := range srcs {
		got = append(got, src.Account+" "+src.Group+" "+src.Filter+" "+src.Stream.Name)
		switch {
		case src.Filter == "live" && (src.Pattern == nil || src.Stream.Compression != firehose.GZIP || src.Stream.Bucket != "b"):
			t.Errorf("the filter's source: %+v", src)
		case src.Filter == ArchiveCursor && (src.Stream.Prefix != "central/!{source:account}/logs/!{source:logGroup}/" || src.Stream.Compression != firehose.GZIP):
			t.Errorf("an archive's source: %+v", src)
		case src.Group == "/app/db" && src.Cursor != 7:
			t.Errorf("the archive's cursor: %d, want 7", src.Cursor)
		}
	}
	slices.Sort(got)
	want := []string{
		a + " /app/web postern:archive postern:archive",
		a + " /other live s",
		a + " /postern/sessions postern:archive postern:archive",
		b + " /app/db postern:archive postern:archive",
	}
	if !slices.Equal(got, want) {
		t.Errorf("sources:\n%q\nwant\n%q", got, want)
	}
}

// TestStreamHidesSecrets: what describe and list return of a stream never
// holds its destination's password, API key or webhook secret, and says
// how it signs in.
func TestStreamHidesSecrets(t *testing.T) {
	for _, d := range []searchindex.Destination{
		{Endpoint: "https://search.example.com", IndexPrefix: "p", Rotation: searchindex.OneDay, Username: "u", Password: "pw-secret"},
		{Endpoint: "https://search.example.com", IndexPrefix: "p", Rotation: searchindex.NoRotation, APIKey: "key-secret"},
	} {
		target, _ := json.Marshal(d)
		s := firehose.Stream{Account: "111111111111", Name: "search", Destination: firehose.DestOpenSearch, Target: target}
		out, _ := json.Marshal(apiStream(s))
		if strings.Contains(string(out), "secret") {
			t.Errorf("the stream as returned holds a secret: %s", out)
		}
		o := apiStream(s).OpenSearch
		if o == nil || o.ClusterEndpoint != d.Endpoint || o.IndexName != "p" || o.IndexRotationPeriod != d.Rotation || o.Username != d.Username || o.Authentication != d.Authentication() {
			t.Errorf("openSearchDestination %+v for %+v", o, d)
		}
	}
	target, _ := json.Marshal(webhook.Endpoint{URL: "https://hook.example.com", Secret: strings.Repeat("secret", 8)})
	out, _ := json.Marshal(apiStream(firehose.Stream{Account: "111111111111", Name: "hook", Destination: firehose.DestHTTP, Target: target}))
	if strings.Contains(string(out), "secret") {
		t.Errorf("the stream as returned holds a secret: %s", out)
	}
}
