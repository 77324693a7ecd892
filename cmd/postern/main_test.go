package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/postern/postern/inittrace"
)

// initBudget is what the init of one of Postern's packages may allocate.
// Every CLI command pays every package's init, the server's included:
// what is only sometimes needed (a password hash to compare failures
// against, regular expressions, parsed policies) is made on first use.
const initBudget = 16 << 10

// TestInitIsCheap runs postern with GODEBUG=inittrace=1 and holds each of
// Postern's packages to initBudget. Other modules' inits (the AWS SDK's
// service schemas, hundreds of kilobytes) are not Postern's to change:
// they are logged.
func TestInitIsCheap(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "postern")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const module = "github.com/postern/postern/"
	for _, args := range [][]string{{"--version"}, {"version"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("postern %v: %v\n%s", args, err, out)
		}
		if !strings.Contains(string(out), "postern "+version+"\n") {
			t.Errorf("postern %v does not print its version:\n%s", args, out)
		}
		inits, err := inittrace.Parse(strings.NewReader(string(out)))
		if err != nil {
			t.Fatal(err)
		}
		var ours, others int64
		seen := map[string]bool{}
		for _, in := range inits {
			seen[in.Package] = true
			if !strings.HasPrefix(in.Package, module) && in.Package != "main" {
				others += in.Bytes
				continue
			}
			ours += in.Bytes
			if in.Bytes > initBudget {
				t.Errorf("postern %v: the init of %s allocates %d bytes (%d allocs), more than %d: make it lazy",
					args, in.Package, in.Bytes, in.Allocs, initBudget)
			}
		}
		for _, p := range []string{"runtime", module + "server", module + "document", module + "shell"} {
			if !seen[p] {
				t.Fatalf("postern %v: no init line for %s; output:\n%s", args, p, out)
			}
		}
		slices.SortFunc(inits, func(a, b inittrace.Init) int { return int(b.Bytes - a.Bytes) })
		var top []string
		for _, in := range inits[:min(5, len(inits))] {
			top = append(top, fmt.Sprintf("%s %.1f KiB", in.Package, float64(in.Bytes)/1024))
		}
		t.Logf("postern %v: Postern's packages %.1f KiB, others %.1f KiB; largest: %s",
			args, float64(ours)/1024, float64(others)/1024, strings.Join(top, ", "))
	}
}
