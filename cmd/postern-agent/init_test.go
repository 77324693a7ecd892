package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/inittrace"
)

// initBudget is what one package's init may allocate. Work done at init
// is paid by every start of the agent: what is only sometimes needed is
// made on first use (sync.OnceValue, lazyregexp).
const initBudget = 16 << 10

// TestInitIsCheap runs postern-agent with GODEBUG=inittrace=1 and holds
// every package it links, the standard library's included, to initBudget.
func TestInitIsCheap(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "postern-agent")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"--version"}, {"version"}, {"run", "--help"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("postern-agent %v: %v\n%s", args, err, out)
		}
		inits, err := inittrace.Parse(strings.NewReader(string(out)))
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		seen := map[string]bool{}
		for _, in := range inits {
			total += in.Bytes
			seen[in.Package] = true
			if in.Bytes > initBudget {
				t.Errorf("postern-agent %v: the init of %s allocates %d bytes (%d allocs), more than %d: make it lazy",
					args, in.Package, in.Bytes, in.Allocs, initBudget)
			}
		}
		for _, p := range []string{"runtime", module + "wire", module + "shell"} {
			if !seen[p] {
				t.Fatalf("postern-agent %v: no init line for %s; output:\n%s", args, p, out)
			}
		}
		t.Logf("postern-agent %v: %d packages initialized, %s in all", args, len(inits), kib(total))
	}
}

func kib(n int64) string { return fmt.Sprintf("%.1f KiB", float64(n)/1024) }
