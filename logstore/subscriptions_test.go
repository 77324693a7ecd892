package logstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/postern/postern/logstore"
)

func TestSubscriptionFilters(t *testing.T) {
	s, c := openTemp(t)
	ctx := t.Context()
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/app"})
	ev := func(msgs ...string) {
		t.Helper()
		var es []logstore.Event
		for _, m := range msgs {
			es = append(es, logstore.Event{Time: c.Now(), Message: m})
		}
		if err := s.PutEvents(ctx, acct, "/app", "st", es); err != nil {
			t.Fatal(err)
		}
	}
	ev("before", "filter")
	f := logstore.SubscriptionFilter{Account: acct, Group: "/app", Name: "ship", DestinationARN: "prn:postern:firehose:" + acct + ":deliverystream/x"}
	if err := s.PutSubscriptionFilter(ctx, f); err != nil {
		t.Fatal(err)
	}
	fs, err := s.SubscriptionFilters(ctx, acct)
	if err != nil || len(fs) != 1 || fs[0].Distribution != "ByLogStream" || fs[0].Cursor == 0 {
		t.Fatalf("SubscriptionFilters = %+v, %v (a new filter starts after the last event)", fs, err)
	}
	start := fs[0].Cursor
	ev("after")
	if n, oldest, err := s.Backlog(ctx, acct, "/app", start); err != nil || n != 1 || oldest.IsZero() {
		t.Errorf("Backlog = %d %v %v, want 1", n, oldest, err)
	}
	if err := s.SaveCursor(ctx, acct, "/app", "ship", start+1); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCursor(ctx, acct, "/app", "ship", start); err != nil {
		t.Fatal(err)
	}
	f.Pattern = "ERROR" // replaced: keeps its cursor
	if err := s.PutSubscriptionFilter(ctx, f); err != nil {
		t.Fatal(err)
	}
	if fs, _ := s.SubscriptionFilters(ctx, acct); fs[0].Cursor != start+1 || fs[0].Pattern != "ERROR" {
		t.Errorf("after saving and replacing: %+v (a cursor never moves back)", fs[0])
	}
	if err := s.SaveCursor(ctx, acct, "/app", "nofilter", 9); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("cursor of no filter: %v", err)
	}
	if err := s.SaveCursor(ctx, acct, "/app", "postern:archive", 2); err != nil {
		t.Errorf("a reader's own cursor: %v", err)
	}
	if id, ok, err := s.Cursor(ctx, acct, "/app", "postern:archive"); id != 2 || !ok || err != nil {
		t.Errorf("Cursor = %d %v %v", id, ok, err)
	}
	f2 := f
	f2.Name = "second"
	if err := s.PutSubscriptionFilter(ctx, f2); err != nil {
		t.Fatal(err)
	}
	f2.Name = "third"
	if err := s.PutSubscriptionFilter(ctx, f2); !errors.Is(err, logstore.ErrInvalid) {
		t.Errorf("a third filter: %v", err)
	}
	if err := s.DeleteSubscriptionFilter(ctx, acct, "/app", "second"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSubscriptionFilter(ctx, acct, "/app", "second"); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("deleted twice: %v", err)
	}
	f.Name, f.Group = "x", "/none"
	if err := s.PutSubscriptionFilter(ctx, f); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("filter of no group: %v", err)
	}
	if other, _ := s.SubscriptionFilters(ctx, "000000000002"); len(other) != 0 {
		t.Errorf("another account sees %+v", other)
	}
	if err := s.DeleteGroup(ctx, acct, "/app"); err != nil {
		t.Fatal(err)
	}
	if fs, _ := s.SubscriptionFilters(ctx, ""); len(fs) != 0 {
		t.Errorf("filters outlive their group: %+v", fs)
	}
}

func TestDeliveryStreamRecords(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	d := logstore.DeliveryStream{Account: acct, Name: "s", Settings: `{"bucket":"b"}`}
	if err := s.CreateDeliveryStream(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDeliveryStream(ctx, d); !errors.Is(err, logstore.ErrExists) {
		t.Errorf("created twice: %v", err)
	}
	ds, err := s.DeliveryStreams(ctx, acct)
	if err != nil || len(ds) != 1 || ds[0].Settings != d.Settings || ds[0].CreatedAt.Before(time.Unix(1, 0)) {
		t.Fatalf("DeliveryStreams = %+v, %v", ds, err)
	}
	if err := s.DeleteDeliveryStream(ctx, acct, "s"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDeliveryStream(ctx, acct, "s"); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("deleted twice: %v", err)
	}
}
