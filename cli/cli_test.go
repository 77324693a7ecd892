package cli

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func run(root *cobra.Command, args ...string) (string, error) {
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func newTestRoot() *cobra.Command {
	root := Root(&cobra.Command{Use: "prog"}, "1.2.3", "abc123")
	root.AddCommand(&cobra.Command{Use: "two", Args: ExactArgs(2, "two words"), RunE: func(*cobra.Command, []string) error { return ExitCode(7) }})
	return root
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}, {"-v"}} {
		out, err := run(newTestRoot(), args...)
		if want := "prog 1.2.3\ncommit abc123\n"; err != nil || out != want {
			t.Errorf("prog %v: %q, %v; want %q", args, out, err, want)
		}
	}
}

func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"two", "a", "b"}, 7, ""},
		{[]string{"two", "a"}, 2, "prog two takes two words"},
		{[]string{"--bogus"}, 2, "unknown flag: --bogus"},
		{[]string{"version", "x"}, 2, "prog version takes no arguments"},
	} {
		_, err := run(newTestRoot(), c.args...)
		if got := Report("prog", err); got != c.code {
			t.Errorf("prog %v: exit %d (%v), want %d", c.args, got, err, c.code)
		}
		if c.msg != "" && (err == nil || !strings.Contains(err.Error(), c.msg)) {
			t.Errorf("prog %v: error %v, want it to say %q", c.args, err, c.msg)
		}
	}
	if got := Report("prog", errors.New("boom")); got != 1 {
		t.Errorf("another error: exit %d, want 1", got)
	}
	if got := Report("prog", fmt.Errorf("wrapped: %w", Usagef("bad"))); got != 2 {
		t.Errorf("a wrapped usage error: exit %d, want 2", got)
	}
}

func TestParseTags(t *testing.T) {
	got, err := ParseTags([]string{"env=prod,team=a", "empty=", "team=b"})
	want := map[string]string{"env": "prod", "team": "b", "empty": ""}
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("ParseTags = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"novalue", "=v", "a=b,,c=d"} {
		_, err := ParseTags([]string{bad})
		var ue UsageError
		if !errors.As(err, &ue) {
			t.Errorf("ParseTags(%q): %v, want a usage error", bad, err)
		}
	}
}
