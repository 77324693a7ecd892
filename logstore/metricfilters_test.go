package logstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/postern/postern/logstore"
)

func TestMetricFilters(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/audit"})
	f := logstore.MetricFilter{Account: acct, Group: "/audit", Name: "sudo", Pattern: `{ $.command = "sudo*" }`,
		Namespace: "Postern", MetricName: "SudoCommands", Value: "1", Dimensions: map[string]string{"user": "$.userIdentity.arn"}}
	if err := s.PutMetricFilter(ctx, f); err != nil {
		t.Fatal(err)
	}
	f.Pattern = `{ $.command = "sudo *" }` // replaced by name
	if err := s.PutMetricFilter(ctx, f); err != nil {
		t.Fatal(err)
	}
	fs, err := s.MetricFilters(ctx, acct)
	if err != nil || len(fs) != 1 || fs[0].Pattern != f.Pattern || fs[0].Dimensions["user"] != "$.userIdentity.arn" || fs[0].CreatedAt.IsZero() {
		t.Fatalf("MetricFilters = %+v, %v", fs, err)
	}
	if other, _ := s.MetricFilters(ctx, "000000000002"); len(other) != 0 {
		t.Errorf("another account sees %+v", other)
	}
	for _, bad := range []struct {
		mutate func(*logstore.MetricFilter)
		want   string
	}{
		{func(f *logstore.MetricFilter) { f.Name = "a:b" }, "invalid filter name"},
		{func(f *logstore.MetricFilter) { f.Namespace = "" }, "invalid metric namespace"},
		{func(f *logstore.MetricFilter) { f.MetricName = "$x" }, "invalid metric name"},
		{func(f *logstore.MetricFilter) { f.Value = "" }, "invalid metric value"},
		{func(f *logstore.MetricFilter) {
			f.Dimensions = map[string]string{"a": "$.a", "b": "$.b", "c": "$.c", "d": "$.d"}
		}, "at most 3"},
	} {
		g := f
		bad.mutate(&g)
		if err := s.PutMetricFilter(ctx, g); !errors.Is(err, logstore.ErrInvalid) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("PutMetricFilter(%+v) = %v, want ErrInvalid saying %q", g, err, bad.want)
		}
	}
	g := f
	g.Group = "/missing"
	if err := s.PutMetricFilter(ctx, g); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("a filter of a missing group: %v", err)
	}
	if err := s.DeleteMetricFilter(ctx, acct, "/audit", "sudo"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMetricFilter(ctx, acct, "/audit", "sudo"); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("deleting twice: %v", err)
	}
	// Deleting a group deletes its filters.
	if err := s.PutMetricFilter(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroup(ctx, acct, "/audit"); err != nil {
		t.Fatal(err)
	}
	if fs, _ := s.MetricFilters(ctx, ""); len(fs) != 0 {
		t.Errorf("filters outlived their group: %+v", fs)
	}
}
