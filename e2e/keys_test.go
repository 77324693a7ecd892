package e2e

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/postern/postern/api"
	"github.com/postern/postern/awskms/kmstest"
	"github.com/postern/postern/ptytest"
)

// TestKeys walks the built-in key service through the CLI as an
// administrator setting up Session Manager's logging guide would: a key
// with an alias, rotation, disable and enable, a scheduled deletion and
// its cancellation, a policy that locks administrators out, and a server
// that refuses to start with the wrong root key.
func TestKeys(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)

	out := e.mustRun(ctx, "keys", "create", "--description", "session logs", "--alias", "alias/session-manager-logs")
	m := regexp.MustCompile(`Created key ([0-9a-f-]{36}) \(prn:postern:kms:000000000001:key/([0-9a-f-]{36})\)`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] {
		t.Fatalf("keys create printed %q", out)
	}
	id := m[1]
	var all, ks []api.Key
	e.jsonOut(ctx, &all, "keys", "ls")
	for _, k := range all {
		// The account's default key, made when Postern first sealed
		// something of its own (the audit group, the sessions group).
		if strings.Join(k.Aliases, ",") != "alias/postern/sessions" {
			ks = append(ks, k)
		}
	}
	if len(ks) != 1 || ks[0].KeyID != id || strings.Join(ks[0].Aliases, ",") != "alias/session-manager-logs" || ks[0].KeyState != "Enabled" || ks[0].RotationPeriodDays != 365 {
		t.Errorf("keys ls: %+v", ks)
	}
	show := e.mustRun(ctx, "keys", "show", "alias/session-manager-logs")
	for _, want := range []string{"Key ID:        " + id, "State:         Enabled", "Rotation:      every 365 days", `"Action":"kms:*"`} {
		if !strings.Contains(show, want) {
			t.Errorf("keys show lacks %q:\n%s", want, show)
		}
	}
	if out := e.mustRun(ctx, "keys", "rotate", id); !strings.Contains(out, "it has 2 versions") {
		t.Errorf("keys rotate: %q", out)
	}
	e.mustRun(ctx, "keys", "disable", "alias/session-manager-logs")
	if show := e.mustRun(ctx, "keys", "show", id); !strings.Contains(show, "State:         Disabled") {
		t.Errorf("after disable:\n%s", show)
	}
	e.mustRun(ctx, "keys", "enable", id)

	_, errOut, code := e.run(ctx, "keys", "schedule-deletion", id, "--days", "3")
	if code == 0 || !strings.Contains(errOut, "waiting period 3 days is out of range 7-30") {
		t.Errorf("a 3-day waiting period: exit %d, %q", code, errOut)
	}
	if out := e.mustRun(ctx, "keys", "schedule-deletion", id, "--days", "7"); !strings.Contains(out, "will be destroyed on") {
		t.Errorf("keys schedule-deletion: %q", out)
	}
	_, errOut, code = e.run(ctx, "keys", "enable", id)
	if code == 0 || !strings.Contains(errOut, "pending deletion") {
		t.Errorf("enabling a key pending deletion: exit %d, %q", code, errOut)
	}
	e.mustRun(ctx, "keys", "cancel-deletion", id)
	if show := e.mustRun(ctx, "keys", "show", id); !strings.Contains(show, "State:         Disabled") {
		t.Errorf("after cancel-deletion:\n%s", show)
	}

	// A policy that names only the log store: as in KMS, administrators
	// are locked out of it.
	policy := filepath.Join(e.dir, "policy.json")
	if err := os.WriteFile(policy, []byte(`{"Statement":[{"Effect":"Allow","Principal":{"Service":"logs.postern"},"Action":"kms:GenerateDataKey*","Resource":"*"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out = e.mustRun(ctx, "keys", "create", "--policy-file", policy)
	locked := regexp.MustCompile(`Created key (\S+) `).FindStringSubmatch(out)[1]
	_, errOut, code = e.run(ctx, "keys", "show", locked)
	if code == 0 || !strings.Contains(errOut, "may not kms:DescribeKey") {
		t.Errorf("describing a key whose policy does not name administrators: exit %d, %q", code, errOut)
	}
	_, errOut, code = e.run(ctx, "keys", "alias", "alias/aws/x", id)
	if code == 0 || !strings.Contains(errOut, "not alias/aws/") {
		t.Errorf("a reserved alias: exit %d, %q", code, errOut)
	}

	// The root key file was created with 0600; the server does not start
	// with another one, and leaves the file as it is.
	keyFile := filepath.Join(e.dir, "data", "root.key")
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("root key file: %v, %v", fi, err)
	}
	e.dev.stop(ctx)
	wrong := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32))) + "\n"
	if err := os.WriteFile(keyFile, []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	dev := start(t, e.vars(), "dev", "--listen", "127.0.0.1:0", "--data", filepath.Join(e.dir, "data"))
	dev.waitFor(ctx, regexp.MustCompile(`wrong root key: the root key \(file .*root.key\) is not the one this database's keys are wrapped with`))
	if b, _ := os.ReadFile(keyFile); string(b) != wrong {
		t.Errorf("the refused key file was changed")
	}
}

// TestRecordingsSealedAndShredded: what a session prints is not in its
// journal in plain text; `postern logs delete` makes it unreadable and
// removes it from the built-in log store, words of the index included.
func TestRecordingsSealedAndShredded(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)
	const secret = "Zq9HunterSecret"
	pty := ptytest.Start(t, e.connectCmd(hostname(t)))
	id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
	pty.WriteLine(setPrompt)
	pty.Expect(ctx, prompt)
	pty.WriteLine("echo " + secret + "-$((6*7))")
	pty.Expect(ctx, secret+"-42")
	pty.WriteLine("exit")
	pty.Wait(ctx)
	e.waitDelivered(ctx, id)

	if log := e.logs(ctx, id, "log"); !strings.Contains(log, secret+"-42") {
		t.Fatalf("the transcript lacks the output:\n%s", log)
	}
	journals, _ := filepath.Glob(filepath.Join(e.dir, "data", "sessions", "*", id+".journal"))
	if len(journals) != 1 {
		t.Fatalf("journals of %s: %v", id, journals)
	}
	if b, err := os.ReadFile(journals[0]); err != nil || bytes.Contains(b, []byte(secret)) {
		t.Fatalf("the journal holds the output in plain text (or: %v)", err)
	}
	// Nothing in the data directory holds it in the clear: the log
	// store's events and index are sealed too.
	filepath.WalkDir(filepath.Join(e.dir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, _ := os.ReadFile(p); bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(secret))) {
			t.Errorf("%s holds the session's output in plain text", p)
		}
		return nil
	})
	if out := e.mustRun(ctx, "logs", "events", "/postern/sessions", id); !strings.Contains(out, secret) {
		t.Fatalf("the session's own log stream lacks the output:\n%s", out)
	}

	out := e.mustRun(ctx, "logs", "delete", id)
	if !strings.Contains(out, "its key is destroyed") || !strings.Contains(out, "Recording removed: true; built-in log streams deleted: 1") {
		t.Errorf("logs delete printed %q", out)
	}
	if _, errOut, code := e.run(ctx, "logs", "get", id); code == 0 || !strings.Contains(errOut, "deleted") {
		t.Errorf("logs get after delete: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(journals[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the journal is still there: %v", err)
	}
	for _, f := range []string{"logs.db", "logs.db-wal", "postern.db", "postern.db-wal"} {
		b, err := os.ReadFile(filepath.Join(e.dir, "data", f))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(secret))) {
			t.Errorf("%s still holds the deleted output", f)
		}
	}
	// (After the files are read: the audit trail keeps the query's text,
	// as it keeps every call's.)
	if out := e.mustRun(ctx, "logs", "query", `filter @message like "`+secret+`" | stats count(*) as n`, "--since", "1d", "-o", "csv"); out != "n\n0\n" {
		t.Errorf("a query still finds the output: %q", out)
	}
}

// TestAWSKMSKey is Session Manager's logging guide with the key in AWS KMS
// (here local-kms, a server that speaks KMS's API): a customer managed key
// seals the recordings (kmsKeyId) and an encrypted log group that
// encryption is required of; once the key is disabled in KMS, or KMS cannot
// be reached, sessions are refused with the reason.
func TestAWSKMSKey(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	kmsSrv := kmstest.Start(t)
	arn := kmsSrv.CreateKey(t, "session logs")
	cfg := filepath.Join(t.TempDir(), "postern.yaml")
	if err := os.WriteFile(cfg, []byte("cloudWatch:\n  use: builtin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startDevEnv(t, append(append([]string{}, noAWS...), kmsSrv.Env()...), "--config", cfg)
	e.mustRun(ctx, "logs", "groups", "create", "ssm-secure-consolelog-group", "--kms-key-id", arn)
	p := filepath.Join(t.TempDir(), "prefs.json")
	if err := os.WriteFile(p, []byte(`{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{"kmsKeyId":"`+arn+`",`+
		`"cloudWatchLogGroupName":"ssm-secure-consolelog-group","cloudWatchEncryptionEnabled":true,"cloudWatchStreamingEnabled":true}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun(ctx, "prefs", "set", "-f", p)
	node := hostname(t)
	if out := e.mustRun(ctx, "exec", node, "--", "echo", "Zq4AwsSealed"); out != "Zq4AwsSealed\n" {
		t.Fatalf("exec printed %q", out)
	}
	id := e.sessions(ctx)[0].ID
	e.waitDelivered(ctx, id)
	if log := e.logs(ctx, id, "log"); !strings.Contains(log, "Zq4AwsSealed") {
		t.Errorf("the transcript lacks the output:\n%s", log)
	}
	if evs := e.mustRun(ctx, "logs", "events", "ssm-secure-consolelog-group", id); !strings.Contains(evs, "Zq4AwsSealed") {
		t.Errorf("the encrypted group lacks the session's events:\n%s", evs)
	}
	journals, _ := filepath.Glob(filepath.Join(e.dir, "data", "sessions", "*", id+".journal"))
	if len(journals) != 1 {
		t.Fatalf("journals of %s: %v", id, journals)
	}
	if b, err := os.ReadFile(journals[0]); err != nil || !bytes.Contains(b, []byte(`"keyArn":"`+arn+`"`)) {
		t.Errorf("the journal is not sealed with %s (or: %v)", arn, err)
	}
	filepath.WalkDir(filepath.Join(e.dir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("Zq4AwsSealed")) {
			t.Errorf("%s holds the session's output in plain text", p)
		}
		return nil
	})

	// AWS evaluates the key's policy for the server's identity only, so
	// Postern holds each reader to the account's policies (UseKey,
	// kms:Decrypt) before it decrypts for them, as for a built-in key:
	// Nick may read sessions and log groups but not use keys; an auditor
	// may.
	readers := filepath.Join(t.TempDir(), "readers.cedar")
	if err := os.WriteFile(readers, []byte(`permit (principal in Group::"readers", action in [Action::"DescribeSessions", Action::"GetSessionLogs", `+
		`Action::"DescribeLogGroups", Action::"DescribeLogStreams", Action::"GetLogEvents"], resource);`), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun(ctx, "policy", "put", "readers", "-f", readers)
	const pw = "correct horse battery staple"
	for _, u := range [][]string{{"nick", "readers"}, {"audrey", "auditors"}} {
		cmd := exec.CommandContext(ctx, bin, "users", "create", u[0], "--group", u[1], "--password")
		cmd.Env = append(os.Environ(), append(e.vars(), "POSTERN_PASSWORD="+pw)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("users create %s: %v\n%s", u[0], err, out)
		}
	}
	nick, audrey := e.as(t, "nick", pw), e.as(t, "audrey", pw)
	nick.mustFail([]string{"logs", "get", id}, "may not kms:Decrypt with key "+arn)
	nick.mustFail([]string{"logs", "events", "ssm-secure-consolelog-group", id}, "may not kms:Decrypt with key "+arn)
	if log := audrey.mustRun(ctx, "logs", "get", id); !strings.Contains(log, "Zq4AwsSealed") {
		t.Errorf("an auditor's transcript lacks the output:\n%s", log)
	}
	if evs := audrey.mustRun(ctx, "logs", "events", "ssm-secure-consolelog-group", id); !strings.Contains(evs, "Zq4AwsSealed") {
		t.Errorf("an auditor's events lack the output:\n%s", evs)
	}

	if _, err := kmsSrv.Client().DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e.run(ctx, "exec", node, "--", "echo", "must-not-run")
	if code == 0 || strings.Contains(out, "must-not-run") || !strings.Contains(errOut, "DisabledException") {
		t.Errorf("a session with a disabled AWS key: exit %d, %q, %q", code, out, errOut)
	}
	if _, err := kmsSrv.Client().EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	kmsSrv.Close()
	out, errOut, code = e.run(ctx, "exec", node, "--", "echo", "must-not-run")
	if code == 0 || strings.Contains(out, "must-not-run") || !strings.Contains(errOut, "cannot encrypt it") {
		t.Errorf("a session while AWS KMS is unreachable: exit %d, %q, %q", code, out, errOut)
	}
}

// TestS3ClientSideEncryption: with s3.clientSideEncryption, what reaches a
// bucket (here MinIO without a default encryption) is an envelope with no
// plain text in it; postern logs decrypt gives back the transcript, until
// postern logs delete makes it unreadable where it lies.
func TestS3ClientSideEncryption(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	d := startDestinations(t)
	cfg := filepath.Join(t.TempDir(), "postern.yaml")
	if err := os.WriteFile(cfg, []byte("s3:\n  clientSideEncryption: true\ncloudWatch:\n  use: builtin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startDevEnv(t, d.env(), "--config", cfg)
	p := filepath.Join(t.TempDir(), "prefs.json")
	if err := os.WriteFile(p, []byte(`{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{"s3BucketName":"`+plainBucket+`","s3KeyPrefix":"cse"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun(ctx, "prefs", "set", "-f", p)
	const secret = "Zq6ClientSideSecret"
	if out := e.mustRun(ctx, "exec", hostname(t), "--", "echo", secret); out != secret+"\n" {
		t.Fatalf("exec printed %q", out)
	}
	id := e.sessions(ctx)[0].ID
	e.waitDelivered(ctx, id)

	obj, _ := d.minio.Object(t, plainBucket, "cse/"+id+".log")
	if bytes.Contains(obj, []byte(secret)) || !bytes.HasPrefix(obj, []byte("PSTNENV1\n")) {
		t.Fatalf("the uploaded transcript is not an envelope, or holds the output in plain text:\n%q", obj[:min(len(obj), 200)])
	}
	file := filepath.Join(t.TempDir(), id+".log")
	if err := os.WriteFile(file, obj, 0o600); err != nil {
		t.Fatal(err)
	}
	out := e.mustRun(ctx, "logs", "decrypt", file)
	if want := e.logs(ctx, id, "log"); out != want || !strings.Contains(out, secret) {
		t.Errorf("logs decrypt gave\n%s\nwant the transcript\n%s", out, want)
	}
	// Altered, it does not open, and nothing is written.
	tampered := bytes.Clone(obj)
	tampered[len(tampered)-20] ^= 1
	os.WriteFile(file, tampered, 0o600)
	outFile := filepath.Join(t.TempDir(), "out.log")
	if _, errOut, code := e.run(ctx, "logs", "decrypt", file, "-o", outFile); code == 0 || !strings.Contains(errOut, "fails authentication") {
		t.Errorf("decrypting an altered file: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(outFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a partial output was written: %v", err)
	}

	// Deleted, the copy in the bucket cannot be read any more.
	os.WriteFile(file, obj, 0o600)
	if out := e.mustRun(ctx, "logs", "delete", id); !strings.Contains(out, "Delivered elsewhere, delete it there too: s3://"+plainBucket+"/cse/"+id+".log") {
		t.Errorf("logs delete printed %q", out)
	}
	if _, errOut, code := e.run(ctx, "logs", "decrypt", file); code == 0 || !strings.Contains(errOut, "were deleted") {
		t.Errorf("decrypting after the logs were deleted: exit %d, %q", code, errOut)
	}
}
