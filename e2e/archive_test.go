package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/envelope"
	"github.com/postern/postern/firehose"
	"github.com/postern/postern/s3logs/miniotest"
)

// awsS3 runs the AWS CLI against MinIO, as an auditor checking the
// archive bucket would.
func awsS3(t *testing.T, m *miniotest.Server, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(testCtx(t), "aws", append([]string{"--endpoint-url", m.URL(), "--region", m.Region(), "s3"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+m.AccessKey(), "AWS_SECRET_ACCESS_KEY="+m.SecretKey(),
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Run(); err != nil {
		t.Fatalf("aws s3 %v: %v\n%s", args, err, se.String())
	}
	return so.String()
}

// TestOrgArchive runs the central archive end to end: a log-archive
// account's bucket and key; a session of another account is copied there
// under the documented layout, sealed so that only the archive's key opens
// it (checked with the AWS CLI against MinIO); the archive's administrator
// reads it, the session's own account cannot, and deleting the session
// leaves the copy readable; with MinIO stopped, copies wait and arrive
// once it is back, and the archive's status shows them.
func TestOrgArchive(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	if _, err := exec.LookPath("aws"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the AWS CLI is missing (scripts/install-test-deps)")
		}
		t.Skip("no AWS CLI")
	}
	e, minio, _, _, role, _ := orgWithArchive(t)
	node := hostname(t)
	if out := e.mustRun(ctx, "exec", node, "--", "echo", "Zq8Archived"); out != "Zq8Archived\n" {
		t.Fatalf("exec printed %q", out)
	}
	id := e.sessions(ctx)[0].ID
	e.waitDelivered(ctx, id)

	// The layout, with the AWS CLI.
	day := time.Now().UTC().Format("2006/01/02")
	prefix := "central/000000000001/sessions/" + day + "/"
	listing := awsS3(t, minio, "ls", "--recursive", "s3://org-archive/")
	for _, name := range []string{prefix + id + ".log", prefix + id + ".cast"} {
		if !strings.Contains(listing, name) {
			t.Errorf("the archive bucket lacks %s:\n%s", name, listing)
		}
	}
	copyPath := filepath.Join(t.TempDir(), id+".log")
	awsS3(t, minio, "cp", "s3://org-archive/"+prefix+id+".log", copyPath)
	raw, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte(envelope.Magic)) || bytes.Contains(raw, []byte("Zq8Archived")) {
		t.Fatalf("the archive copy is not sealed:\n%q", raw[:min(len(raw), 200)])
	}

	// The archive's administrator reads it; the session's own account
	// cannot, the archive key's policy does not let it.
	if out, errOut, code := e.withToken(ctx, role.Token, "logs", "decrypt", copyPath); code != 0 || !strings.Contains(out, "Zq8Archived") {
		t.Fatalf("the archive's administrator decrypting the copy: exit %d, %s %s", code, out, errOut)
	}
	e.mustFail([]string{"logs", "decrypt", copyPath}, "cannot read archive copies")
	// Deleting the session's logs, in its account, leaves the copy readable.
	e.mustRun(ctx, "logs", "delete", id)
	if out, errOut, code := e.withToken(ctx, role.Token, "logs", "decrypt", copyPath); code != 0 || !strings.Contains(out, "Zq8Archived") {
		t.Fatalf("the copy after its session was deleted: exit %d, %s %s", code, out, errOut)
	}

	// A member account's sessions, on a node of its own, land there too,
	// under its id. Its administrator (the role, here) starts one.
	var web api.OrgAccount
	e.jsonOut(ctx, &web, "org", "create-account", "web-prod")
	var webRole api.AssumeRoleResponse
	e.jsonOut(ctx, &webRole, "org", "assume-role", web.ID)
	out, errOut, code := e.withToken(ctx, webRole.Token, "activations", "create")
	act := regexp.MustCompile(`postern-agent register --server (\S+) --code (\S+) --id (\S+) --ca-pin (\S+)`).FindStringSubmatch(out)
	if code != 0 || act == nil {
		t.Fatalf("an activation in the member account: exit %d, %s %s", code, out, errOut)
	}
	agentDir := filepath.Join(e.dir, "agent-web")
	reg := start(t, nil, "agent", "register", "--dir", agentDir, "--server", act[1], "--code", act[2], "--id", act[3], "--ca-pin", act[4], "--name", "web-1")
	webNode := reg.waitFor(ctx, regexp.MustCompile(`Registered this node as (mi-[0-9a-f]{17})`))[1]
	start(t, nil, "agent", "run", "--dir", agentDir)
	for {
		out, errOut, code := e.withToken(ctx, webRole.Token, "exec", webNode, "--", "echo", "Zq8Member")
		if code == 0 && out == "Zq8Member\n" {
			break
		}
		if !strings.Contains(errOut, "offline") {
			t.Fatalf("exec in the member account: exit %d, %q %s", code, out, errOut)
		}
		select {
		case <-ctx.Done():
			t.Fatal("the member's node never came online")
		case <-time.After(100 * time.Millisecond):
		}
	}
	memberPrefix := "central/" + web.ID + "/sessions/" + day + "/"
	for listing := ""; strings.Count(listing, memberPrefix) < 2; listing = awsS3(t, minio, "ls", "--recursive", "s3://org-archive/"+memberPrefix) {
		select {
		case <-ctx.Done():
			t.Fatalf("the member's session is not in the archive:\n%s", listing)
		case <-time.After(200 * time.Millisecond):
		}
	}

	// Each account's session log group (streamed and command events) is
	// shipped there in batches, gzipped and sealed with the archive's key:
	// the archive's administrator reads them, the accounts' cannot.
	decrypt := func(token string) func(string) []byte {
		return func(p string) []byte {
			out, errOut, code := e.withToken(ctx, token, "logs", "decrypt", p)
			if code != 0 {
				t.Fatalf("decrypting the archive's log object %s: %s", p, errOut)
			}
			return []byte(out)
		}
	}
	for _, acct := range []struct{ id, marker string }{{"000000000001", "Zq8Archived"}, {web.ID, "Zq8Member"}} {
		logsPrefix := "central/" + acct.id + "/logs/postern/sessions/"
		var keys []string
		waitFor(ctx, t, "account "+acct.id+"'s session log events in the archive", func() bool {
			var ps []firehose.Payload
			keys, ps = streamedObjects(t, minio, "org-archive", logsPrefix, decrypt(role.Token))
			for _, p := range ps {
				if p.Owner != acct.id || p.LogGroup != "/postern/sessions" {
					t.Fatalf("account %s's archived payload %+v", acct.id, p)
				}
			}
			return strings.Contains(messages(ps), acct.marker)
		})
		if !regexp.MustCompile(`^` + logsPrefix + `\d{4}/\d\d/\d\d/\d\d/postern-archive-1-.*\.gz$`).MatchString(keys[0]) {
			t.Errorf("archived log object %q", keys[0])
		}
		dir := t.TempDir()
		awsS3(t, minio, "cp", "s3://org-archive/"+keys[0], filepath.Join(dir, "obj"))
		if raw, _ := os.ReadFile(filepath.Join(dir, "obj")); !bytes.HasPrefix(raw, []byte(envelope.Magic)) {
			t.Errorf("archived log object %s is not sealed", keys[0])
		}
		e.mustFail([]string{"logs", "decrypt", filepath.Join(dir, "obj")}, "cannot read archive copies")
		if _, errOut, code := e.withToken(ctx, webRole.Token, "logs", "decrypt", filepath.Join(dir, "obj")); code == 0 || !strings.Contains(errOut, "cannot read archive copies") {
			t.Errorf("the member's administrator decrypting an archived log object: exit %d, %s", code, errOut)
		}
	}
	var shown api.OrgArchiveStatus
	waitFor(ctx, t, "every account's log events shipped, and counted so", func() bool {
		e.jsonOut(ctx, &shown, "org", "archive", "show")
		for _, a := range shown.Accounts {
			if a.LogEventsPending != 0 {
				return false
			}
		}
		return len(shown.Accounts) >= 3
	})

	// The accounts' audit trails go there too, sealed the same way, as
	// objects of consecutive records.
	auditDir := t.TempDir()
	for trail := ""; !strings.Contains(trail, `"action":"SessionStarted"`); {
		select {
		case <-ctx.Done():
			t.Fatalf("the archive's audit trail lacks the session's start:\n%s", trail)
		case <-time.After(200 * time.Millisecond):
		}
		awsS3(t, minio, "cp", "--recursive", "s3://org-archive/central/000000000001/audit/", auditDir)
		trail = ""
		filepath.WalkDir(auditDir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			out, errOut, code := e.withToken(ctx, role.Token, "logs", "decrypt", p)
			if code != 0 {
				t.Fatalf("decrypting the archive's audit object %s: %s", p, errOut)
			}
			trail += out
			return nil
		})
	}

	// MinIO down: the copies wait, and arrive once it is back.
	minio.Stop()
	if out := e.mustRun(ctx, "exec", node, "--", "echo", "Zq8Outage"); out != "Zq8Outage\n" {
		t.Fatalf("exec with the archive down printed %q", out)
	}
	late := e.sessions(ctx)[0].ID
	var st api.OrgArchiveStatus
	for {
		out, _, _ := e.withToken(ctx, role.Token, "org", "archive", "show", "-o", "json")
		if json.Unmarshal([]byte(out), &st) == nil && undelivered(st, "000000000001") > 0 && logEventsPending(st, "000000000001") > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the archive's status never showed the waiting copies: %+v", st)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := minio.Restart(); err != nil {
		t.Fatal(err)
	}
	e.waitDelivered(ctx, late)
	waitFor(ctx, t, "the session log events held during the outage in the archive", func() bool {
		_, ps := streamedObjects(t, minio, "org-archive", "central/000000000001/logs/", func(p string) []byte {
			out, _, _ := e.withToken(ctx, role.Token, "logs", "decrypt", p)
			return []byte(out)
		})
		return strings.Contains(messages(ps), "Zq8Outage")
	})
	if listing := awsS3(t, minio, "ls", "--recursive", "s3://org-archive/"); !strings.Contains(listing, late+".log") {
		t.Errorf("the copy made while MinIO was down is missing:\n%s", listing)
	}
	e.jsonOut(ctx, &st, "org", "archive", "show")
	for _, a := range st.Accounts {
		if a.Account == "000000000001" && (a.Delivered != 4 || undelivered(st, a.Account) != 0) {
			t.Errorf("the management account's copies: %+v, want 4 delivered, none waiting", a)
		}
	}
}

// logEventsPending counts an account's log events not shipped yet.
func logEventsPending(st api.OrgArchiveStatus, account string) int64 {
	for _, a := range st.Accounts {
		if a.Account == account {
			return a.LogEventsPending
		}
	}
	return 0
}

// undelivered counts an account's archive copies not delivered yet.
func undelivered(st api.OrgArchiveStatus, account string) int {
	for _, a := range st.Accounts {
		if a.Account == account {
			return a.Waiting + a.Pending + a.Failing
		}
	}
	return 0
}

// orgWithArchive starts postern dev with MinIO as its S3, makes an
// organization with a log-archive account whose key (by its policy: its
// administrators, and the organization's recorders) seals the archive in
// bucket org-archive under prefix central, and checks archive set's
// refusals on the way. role is the archive account's role's credentials.
func orgWithArchive(t *testing.T) (e *env, minio *miniotest.Server, org api.Organization, archive api.OrgAccount, role api.AssumeRoleResponse, keyARN string) {
	t.Helper()
	ctx := testCtx(t)
	minio = miniotest.Start(t)
	minio.CreateBucket(t, "org-archive", false)
	e = startDevEnv(t, []string{
		"AWS_ENDPOINT_URL_S3=" + minio.URL(), "AWS_ACCESS_KEY_ID=" + minio.AccessKey(), "AWS_SECRET_ACCESS_KEY=" + minio.SecretKey(),
		"AWS_REGION=" + minio.Region(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	})
	e.jsonOut(ctx, &org, "org", "create")
	e.jsonOut(ctx, &archive, "org", "create-account", "log-archive")
	e.jsonOut(ctx, &role, "org", "assume-role", archive.ID)

	// The archive account's key: its administrators manage and read
	// with it; the organization's recorders seal with it.
	policy := filepath.Join(t.TempDir(), "archive-key.json")
	if err := os.WriteFile(policy, []byte(`{"Version": "2012-10-17", "Statement": [
	  {"Effect": "Allow", "Principal": {"Postern": "prn:postern:iam:`+archive.ID+`:root"}, "Action": "kms:*", "Resource": "*"},
	  {"Effect": "Allow", "Principal": {"Service": "sessions.postern"}, "Action": "kms:GenerateDataKey", "Resource": "*",
	   "Condition": {"StringEquals": {"aws:SourceOrgID": "`+org.ID+`"}}}
	]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e.withToken(ctx, role.Token, "keys", "create", "--policy-file", policy)
	m := regexp.MustCompile(`Created key \S+ \((prn:\S+)\)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("keys create in the archive account: exit %d, %s %s", code, out, errOut)
	}
	keyARN = m[1]
	e.mustFail([]string{"org", "archive", "set", "--account", archive.ID, "--bucket", "org-archive", "--key", "prn:postern:kms:000000000001:key/e04ff48b-4b8a-4c2b-ad25-a985c72cb1a6"}, "must be the ARN of a key (or alias) of the archive account")
	e.mustFail([]string{"org", "archive", "set", "--account", archive.ID, "--bucket", "no-such-bucket", "--key", keyARN}, "the archive bucket no-such-bucket cannot take copies")
	e.mustFail([]string{"org", "archive", "set", "--account", archive.ID, "--bucket", "org-archive", "--key", keyARN, "--logs-buffer-interval", "901"}, "logsBufferIntervalSeconds: 901: from 0 to 900")
	e.mustFail([]string{"org", "archive", "set", "--account", archive.ID, "--bucket", "org-archive", "--key", keyARN, "--log-groups", "/app/*/x*"}, `logGroups: "/app/*/x*": a log group's name, or a prefix of one ending in '*'`)
	e.mustRun(ctx, "org", "archive", "set", "--account", archive.ID, "--bucket", "org-archive", "--prefix", "central", "--key", keyARN, "--logs-buffer-interval", "0", "--log-groups", "/postern/sessions,/app/*")

	return e, minio, org, archive, role, keyARN
}

// TestConsoleArchive: the Organization page shows the central archive and
// each account's copies.
func TestConsoleArchive(t *testing.T) {
	node, web := consoleDeps(t)
	if _, err := exec.LookPath("aws"); err != nil && os.Getenv("CI") == "" {
		t.Skip("no AWS CLI")
	}
	ctx := testCtx(t)
	e, _, _, archive, _, _ := orgWithArchive(t)
	e.mustRun(ctx, "exec", hostname(t), "--", "true")
	e.waitDelivered(ctx, e.sessions(ctx)[0].ID)
	runBrowserTest(t, ctx, e, node, web, "archive.mjs", "POSTERN_ARCHIVE_ACCOUNT="+archive.ID)
}
