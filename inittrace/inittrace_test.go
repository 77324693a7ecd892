package inittrace

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	in := `init internal/bytealg @0.005 ms, 0 ms clock, 0 bytes, 0 allocs
init github.com/postern/postern/server @20 ms, 54 ms clock, 20097056 bytes, 2461 allocs
postern 0.1.0-dev
`
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Init{
		{Package: "internal/bytealg", Start: 5 * time.Microsecond},
		{Package: "github.com/postern/postern/server", Start: 20 * time.Millisecond, Clock: 54 * time.Millisecond, Bytes: 20097056, Allocs: 2461},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, line := range []string{
		"init x @1 ms, 2 ms clock, 3 bytes",
		"init x @1 ms, 2 ms clock, -3 bytes, 4 allocs",
		"init x 1 ms, 2 ms clock, 3 bytes, 4 allocs",
		"init x @1 ms, z ms clock, 3 bytes, 4 allocs",
		"init x @1 ms, 2 ms clock, 3 bytes, 4.5 allocs",
		"init x @1 ms, NaN ms clock, 3 bytes, 4 allocs",
	} {
		if _, err := Parse(strings.NewReader(line + "\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: err = %v, want an error naming line 1", line, err)
		}
	}
}

// The runtime's own output parses, and names the packages this test
// binary links.
func TestParseRuntimeOutput(t *testing.T) {
	if os.Getenv("INITTRACE_CHILD") == "1" {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestParseRuntimeOutput$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1", "INITTRACE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	inits, err := Parse(strings.NewReader(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, in := range inits {
		seen[in.Package] = true
	}
	for _, p := range []string{"runtime", "os", "testing"} {
		if !seen[p] {
			t.Errorf("no init line for %s in:\n%s", p, out)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("init github.com/postern/postern/ids @8.1 ms, 0.001 ms clock, 480 bytes, 16 allocs\n")
	f.Add("init runtime @0.14 ms, 0.10 ms clock, 0 bytes, 0 allocs\nhello\n")
	f.Add("init x @1e400 ms, NaN ms clock, 99999999999999999999 bytes, 1 allocs\n")
	f.Add("init \n")
	f.Add("init x @1 ms, NaN ms clock, 3 bytes, 4 allocs\n")
	f.Fuzz(func(t *testing.T, s string) {
		inits, err := Parse(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, in := range inits {
			if in.Bytes < 0 || in.Allocs < 0 || in.Clock < 0 || in.Start < 0 || in.Package == "" {
				t.Fatalf("accepted %+v from %q", in, s)
			}
		}
	})
}
