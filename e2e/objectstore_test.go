package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/s3logs/miniotest"
	"github.com/postern/postern/store/postgres/pgtest"
)

// TestServerLostWithItsDisk: with PostgreSQL for the metadata and MinIO
// as the recordings' system of record, a server is killed (SIGKILL) while
// sessions print numbered lines, and its data directory is removed; a
// new server with an empty data directory takes its place. The agent
// reconnects to it, every session resumes and ends, every recording holds
// every line exactly once and in order, and the user's CLI reconnects by
// itself and prints every line exactly once.
func TestServerLostWithItsDisk(t *testing.T) { lostServer(t, false) }

// TestServerLostBucketDown: as TestServerLostWithItsDisk, with the bucket
// down as the new server starts: it takes the sessions up once the
// bucket answers, and nothing is lost.
func TestServerLostBucketDown(t *testing.T) { lostServer(t, true) }

func lostServer(t *testing.T, bucketDown bool) {
	ctx := testCtx(t)
	dsn := pgtest.NewDatabase(t)
	s3 := miniotest.Start(t)
	s3.CreateBucket(t, "postern-recordings", false)
	c := &cluster{t: t, dir: t.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	root := make([]byte, 32)
	rand.Read(root)
	srvEnv := []string{"POSTERN_ADMIN_PASSWORD=admin-pw", "HOME=" + c.dir, "POSTERN_ROOT_KEY=" + base64.StdEncoding.EncodeToString(root)}
	shared := filepath.Join(c.dir, "shared") // what the servers share besides the database: the CA
	os.MkdirAll(shared, 0o700)
	config := func(name string, ca bool) string {
		cfg := fmt.Sprintf("database: %q\nlisten: %q\ngrace: 2m\n"+
			"s3: {endpoint: %q, region: %q, accessKeyId: %q, secretAccessKey: %q, timeout: 5s}\n"+
			"recordings: {s3BucketName: postern-recordings, s3KeyPrefix: cluster, shipInterval: 500ms}\n",
			dsn, c.addr, s3.URL(), s3.Region(), s3.AccessKey(), s3.SecretKey())
		if ca {
			cfg += fmt.Sprintf("caCert: %q\ncaKey: %q\n", filepath.Join(shared, "ca.crt"), filepath.Join(shared, "ca.key"))
		}
		p := filepath.Join(c.dir, name+".yaml")
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dataA := filepath.Join(c.dir, "server-a")
	c.server = start(t, srvEnv, "server", "--data", dataA, "--config", config("a", false))
	c.server.waitFor(ctx, regexp.MustCompile(`listening on https://`))
	for _, f := range []string{"ca.crt", "ca.key"} {
		b, err := os.ReadFile(filepath.Join(dataA, "tls", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(shared, f), b, 0o600)
	}
	ca, _ := os.ReadFile(filepath.Join(shared, "ca.crt"))
	anon, _ := client.New(client.Config{Server: "https://" + c.addr, CA: string(ca)})
	res, err := anon.Login(ctx, "", "admin", "admin-pw")
	if err != nil {
		t.Fatal(err)
	}
	tok := res.Token
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

	// Sessions printing numbered lines, and one the user watches.
	const sessions, lines = 10, 600
	var ids []string
	for i := 0; i < sessions; i++ {
		script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do i=$((i+1)); echo "s%d-line-$i"; if [ $((i %% 20)) -eq 0 ]; then sleep 0.1; fi; done`, lines, i)
		s, err := c.admin.StartSession(ctx, api.StartSessionRequest{Target: c.nodeID, Command: []string{"/bin/sh", "-c", script}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	home := filepath.Join(c.dir, "cli")
	if err := client.SaveConfig(home, client.Config{Server: "https://" + c.addr, CA: string(ca), Token: tok}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: c.dir, home: home}
	cli := exec.CommandContext(ctx, bin, "exec", c.nodeID, "--", "sh", "-c", `i=0; while [ $i -lt 200 ]; do i=$((i+1)); echo "cli-line-$i"; sleep 0.03; done`)
	cli.Env = append(os.Environ(), e.vars()...)
	var cliOut, cliErr bytes.Buffer
	cli.Stdout, cli.Stderr = &cliOut, &cliErr
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}

	time.Sleep(1500 * time.Millisecond) // output flows, and some is shipped; where the kill lands varies
	c.server.signal(syscall.SIGKILL)
	<-c.server.done
	if err := os.RemoveAll(dataA); err != nil {
		t.Fatal(err)
	}
	if bucketDown {
		s3.Stop()
	}
	dataB := filepath.Join(c.dir, "server-b")
	c.server = start(t, srvEnv, "server", "--data", dataB, "--config", config("b", true))
	c.server.waitFor(ctx, regexp.MustCompile(`listening on https://`))
	c.waitOnline(ctx)
	if bucketDown {
		c.server.waitFor(ctx, regexp.MustCompile(`taking the session up when it does|cannot be taken up here yet`))
		if err := s3.Restart(); err != nil {
			t.Fatal(err)
		}
	}

	if err := cli.Wait(); err != nil {
		t.Fatalf("postern exec across the server's loss: %v\nstderr: %s", err, cliErr.String())
	}
	if want := numberedLines(200, func(n int) string { return fmt.Sprintf("cli-line-%d\n", n) }); cliOut.String() != want {
		t.Errorf("the CLI printed %d bytes, want %d: lines lost, repeated or reordered across the server's loss\nstderr: %s", cliOut.Len(), len(want), cliErr.String())
	}

	c.checkNumberedRecordings(ctx, ids, lines, "the server's loss")
	out := c.server.Output()
	if n := strings.Count(out, "recovered session") + strings.Count(out, "took up session"); n < 2 || !strings.Contains(out, "from object storage") {
		t.Errorf("the new server recovered %d sessions from object storage, want the CLI's and others: the kill landed after they ended, so the test proved little\n%s", n, out)
	}
	if !strings.Contains(cliErr.String(), "reconnected") {
		t.Errorf("the CLI did not say it reconnected: %s", cliErr.String())
	}
	// Finished recordings are one object each in the bucket.
	keys := s3.Keys(t, "postern-recordings", "cluster/journals/")
	whole := 0
	for _, k := range keys {
		if strings.HasSuffix(k, "/journal") {
			whole++
		}
	}
	if whole != sessions+1 {
		t.Errorf("%d whole journals in the bucket, want %d: %v", whole, sessions+1, keys)
	}
}
