package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestInterruptIsQuiet: ^C on a client command ends it with the shell's
// code for an interrupted command, 130, not "postern: context canceled"
// (issue 17, item 9).
func TestInterruptIsQuiet(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)
	cmd := exec.CommandContext(ctx, bin, "exec", hostname(t), "--", "sh", "-c", "echo started; sleep 60")
	cmd.Env = append(os.Environ(), e.vars()...)
	var se strings.Builder
	cmd.Stderr = &se
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "started\n" {
		t.Fatalf("first output %q, %v", line, err)
	}
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 || strings.Contains(se.String(), "context canceled") {
		t.Fatalf("interrupted: exit %d, stderr %q; want 130 and no context canceled", code, se.String())
	}
}
