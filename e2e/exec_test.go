package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/postern/postern/api"
	"github.com/postern/postern/recording"
)

// runIn runs a postern client command with stdin as its standard input and
// returns its standard output and error, byte for byte, and exit code.
func (e *env) runIn(ctx context.Context, stdin []byte, args ...string) ([]byte, []byte, int) {
	e.t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), e.vars()...)
	cmd.Stdin = bytes.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("postern %v: %v", args, err)
	}
	return so.Bytes(), se.Bytes(), code
}

// lastSession returns the most recent session.
func (e *env) lastSession(ctx context.Context) api.Session {
	e.t.Helper()
	var ss []api.Session
	e.jsonOut(ctx, &ss, "sessions")
	if len(ss) == 0 {
		e.t.Fatal("no sessions")
	}
	last := ss[0]
	for _, s := range ss {
		if s.StartedAt.After(last.StartedAt) {
			last = s
		}
	}
	return last
}

// TestExecPipes: exec without --tty runs the command without a terminal:
// standard output and error apart and exact (no CR), exit code passed
// through, standard input forwarded to its end, binary data intact, and
// both outputs recorded. --tty still gives a terminal.
func TestExecPipes(t *testing.T) {
	ctx := testCtx(t)
	e := startDev(t)
	node := hostname(t)

	out, errOut, code := e.runIn(ctx, nil, "exec", node, "--", "sh", "-c", "echo out; echo err >&2; [ -t 1 ] && echo tty; exit 3")
	if string(out) != "out\n" || !strings.Contains(string(errOut), "err\n") || code != 3 {
		t.Errorf("exec: stdout %q, stderr %q, exit %d; want \"out\\n\", err, 3", out, errOut, code)
	}
	id := e.lastSession(ctx).ID
	cast := e.mustRun(ctx, "logs", "get", id, "--format", "cast")
	_, events, err := recording.ReadCast(strings.NewReader(cast))
	if err != nil {
		t.Fatalf("reading the cast: %v\n%s", err, cast)
	}
	var shown strings.Builder
	for _, ev := range events {
		if ev.Type == recording.EventOutput {
			shown.WriteString(ev.Data)
		}
	}
	if s := shown.String(); !strings.Contains(s, "out\r\n") || !strings.Contains(s, "err\r\n") {
		t.Errorf("the recording shows %q; want both out and err", s)
	}
	log := e.mustRun(ctx, "logs", "get", id)
	if !strings.Contains(log, "<not executed on terminal>") || !strings.Contains(log, "\nout\n") || !strings.Contains(log, "\nerr\n") || !strings.Contains(log, `COMMAND_EXIT_CODE="3"`) {
		t.Errorf("transcript:\n%s", log)
	}

	// Standard input, to its end: sort prints nothing before it.
	if out, errOut, code := e.runIn(ctx, []byte("a\nb\n"), "exec", node, "--", "sort", "-r"); string(out) != "b\na\n" || code != 0 {
		t.Errorf("sort -r: stdout %q, stderr %q, exit %d", out, errOut, code)
	}
	cast = e.mustRun(ctx, "logs", "get", e.lastSession(ctx).ID, "--format", "cast")
	if !strings.Contains(cast, `"i", "a\nb\n"`) {
		t.Errorf("standard input is not in the recording:\n%s", cast)
	}

	// Binary data both ways.
	data := make([]byte, 1000000)
	rand.Read(data)
	out, errOut, code = e.runIn(ctx, data, "exec", node, "--", "cat")
	if code != 0 || !bytes.Equal(out, data) {
		t.Errorf("cat of %d random bytes: got %d bytes (equal %v), exit %d, stderr %q", len(data), len(out), bytes.Equal(out, data), code, errOut)
	}

	// --tty: a pseudo-terminal, whose output processing turns \n into \r\n.
	out, _, code = e.runIn(ctx, nil, "exec", "--tty", node, "--", "sh", "-c", "[ -t 1 ] && echo tty; exit 5")
	if string(out) != "tty\r\n" || code != 5 {
		t.Errorf("exec --tty: stdout %q, exit %d; want \"tty\\r\\n\", 5", out, code)
	}

	// A NonInteractiveCommands document runs without a terminal too.
	out, errOut, code = e.runIn(ctx, []byte("piped"), "connect", node, "--document", "AWS-StartNonInteractiveCommand", "--parameters", "command=cat; echo; echo done >&2; exit 7")
	if string(out) != "piped\n" || !strings.Contains(string(errOut), "done\n") || code != 7 {
		t.Errorf("NonInteractiveCommands document: stdout %q, stderr %q, exit %d", out, errOut, code)
	}
}
