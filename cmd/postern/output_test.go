package main

import (
	"bytes"
	"maps"
	"strings"
	"testing"

	"github.com/postern/postern/api"
)

// TestTableIsTerminalSafe: listings print what nodes and users said; no
// control sequence in it reaches the terminal, in table or CSV.
func TestTableIsTerminalSafe(t *testing.T) {
	rows := [][]string{{"mi-0a1b2c3d4e5f60718", "vm\x1b]0;pwned\x07\x1b[2J", "env=\x1b]52;c;ZXZpbA==\x07"}}
	for _, format := range []string{"table", "csv"} {
		var b bytes.Buffer
		if err := table(&b, format, []string{"ID", "NAME", "TAGS"}, rows, nil); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(b.String(), "\x1b\x07") {
			t.Fatalf("%s output holds control characters: %q", format, b.String())
		}
		if !strings.Contains(b.String(), `vm\x1b]0;pwned\x07\x1b[2J`) {
			t.Fatalf("%s output does not show the name escaped: %q", format, b.String())
		}
	}
}

// The sessions table names nodes by name; by id where the server gave no
// name (the node is gone, or the caller may not describe it); by both
// where two of the listing's nodes have the same name.
func TestTargetLabels(t *testing.T) {
	ss := []api.Session{
		{ID: "a-1", Target: "mi-00000000000000001", TargetName: "web-1"},
		{ID: "a-2", Target: "mi-00000000000000002"},
		{ID: "a-3", Target: "mi-00000000000000003", TargetName: "db"},
		{ID: "a-4", Target: "mi-00000000000000004", TargetName: "db"},
		{ID: "a-5", Target: "mi-00000000000000001", TargetName: "web-1"},
	}
	want := map[string]string{
		"mi-00000000000000001": "web-1",
		"mi-00000000000000002": "mi-00000000000000002",
		"mi-00000000000000003": "db (mi-00000000000000003)",
		"mi-00000000000000004": "db (mi-00000000000000004)",
	}
	if got := targetLabels(ss); !maps.Equal(got, want) {
		t.Errorf("targetLabels = %v, want %v", got, want)
	}
}
