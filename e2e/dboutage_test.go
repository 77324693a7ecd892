package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/store/postgres/pgtest"
)

// TestDatabaseOutage: the server's PostgreSQL stops taking connections
// while a session runs. The session goes on (the user's CLI keeps
// printing), a new session is refused with a clear error, the running
// one ends while the database is still away, and once it is back the
// end is stored and the recording holds every line once.
func TestDatabaseOutage(t *testing.T) {
	ctx := testCtx(t)
	dsn := pgtest.NewDatabase(t)
	c := &cluster{t: t, dir: t.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	c.server = start(t, c.serverEnv(), "server", "--data", filepath.Join(c.dir, "server"), "--listen", c.addr, "--database", dsn)
	c.server.waitFor(ctx, regexp.MustCompile(`listening on https://`))
	ca, _ := os.ReadFile(filepath.Join(c.dir, "server", "tls", "ca.crt"))
	tok := loginToken(t, ctx, c)
	c.admin, _ = client.New(client.Config{Server: "https://" + c.addr, CA: string(ca), Token: tok})
	act, err := c.admin.CreateActivation(ctx, api.CreateActivationRequest{})
	if err != nil {
		t.Fatal(err)
	}
	agentDir := filepath.Join(c.dir, "agent")
	reg := start(t, nil, "agent", "register", "--dir", agentDir, "--server", "https://"+c.addr, "--code", act.Code, "--id", act.ID, "--ca-pin", act.CAPin)
	c.nodeID = reg.waitFor(ctx, regexp.MustCompile(`Registered this node as (mi-[0-9a-f]{17})`))[1]
	c.agent = start(t, nil, "agent", "run", "--dir", agentDir)
	c.waitOnline(ctx)
	home := filepath.Join(c.dir, "cli")
	if err := client.SaveConfig(home, client.Config{Server: "https://" + c.addr, CA: string(ca), Token: tok}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: c.dir, home: home}

	// The session waits for a file before it prints its second half, so
	// that it is sure to print, and end, while the database is away.
	// (Where the session's user, ssm-user under a root agent, can see it.)
	gateDir, err := os.MkdirTemp("", "postern-gate-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(gateDir) })
	os.Chmod(gateDir, 0o755)
	gate := filepath.Join(gateDir, "open")
	const lines = 300
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do i=$((i+1)); echo "db-line-$i"; if [ $i -eq 150 ]; then while [ ! -e %s ]; do sleep 0.05; done; fi; done`, lines, gate)
	cli := exec.CommandContext(ctx, bin, "exec", c.nodeID, "--", "sh", "-c", script)
	cli.Env = append(os.Environ(), e.vars()...)
	out, err := cli.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var cliErr strings.Builder
	cli.Stderr = &cliErr
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var got strings.Builder
	for sc.Scan() {
		got.WriteString(sc.Text() + "\n")
		if sc.Text() == "db-line-150" {
			break
		}
	}

	pgtest.SetReachable(t, dsn, false)
	_, errOut, code := e.run(ctx, "exec", c.nodeID, "--", "true")
	if code == 0 || !strings.Contains(errOut, "database does not answer") {
		t.Errorf("a new session while the database is away: exit %d, %q; want a refusal that says the database does not answer", code, errOut)
	}
	os.WriteFile(gate, nil, 0o600) // the rest of the output, and the end, while it is away
	rest, _ := io.ReadAll(out)
	got.Write(rest)
	if err := cli.Wait(); err != nil {
		t.Fatalf("the running session's CLI: %v\n%s", err, cliErr.String())
	}
	var want strings.Builder
	for n := 1; n <= lines; n++ {
		fmt.Fprintf(&want, "db-line-%d\n", n)
	}
	if got.String() != want.String() {
		t.Errorf("the CLI printed %d bytes during the outage, want %d", got.Len(), want.Len())
	}
	c.server.waitFor(ctx, regexp.MustCompile(`storing its end: .*trying again until the database answers`))

	pgtest.SetReachable(t, dsn, true)
	c.server.waitFor(ctx, regexp.MustCompile(`its end is stored`))
	ss, err := c.admin.Sessions(ctx, client.SessionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 {
		t.Fatalf("%d sessions after the outage, want the one that ran through it (the refused one was never made): %+v", len(ss), ss)
	}
	s := ss[0]
	if s.Status != "Terminated" || s.ExitCode == nil || *s.ExitCode != 0 {
		t.Fatalf("after the outage the session is %s/%s exit %v, want Terminated with 0", s.Status, s.StatusReason, s.ExitCode)
	}
	rc, err := c.admin.Logs(ctx, s.ID, "cast")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, events, err := recording.ReadCast(rc)
	if err != nil {
		t.Fatal(err)
	}
	var rec strings.Builder
	for _, ev := range events {
		if ev.Type == "o" {
			rec.WriteString(strings.ReplaceAll(ev.Data, "\r\n", "\n"))
		}
	}
	if rec.String() != want.String() {
		t.Errorf("the recording holds %d bytes, want %d", rec.Len(), want.Len())
	}
}
