package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/coder/websocket"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/netfault"
	"github.com/postern/postern/ptytest"
	"github.com/postern/postern/ssmchannel/plugintest"
)

// awsCLI runs the real AWS CLI against a Postern server with an access
// key, trusting the server's CA, and returns stdout, stderr and whether
// it succeeded.
func awsCLI(t *testing.T, e *env, keyID, secret string, args ...string) (string, string, bool) {
	t.Helper()
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		t.Fatal("the aws CLI is not installed: run ./scripts/install-test-deps")
	}
	cmd := awsCommand(t, e, awsBin, keyID, secret, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err == nil
}

// awsProfileEnv is an environment in which the AWS CLI's files hold a
// profile "postern" as the README writes it: e's endpoint, its CA and the
// key; nothing of them in the environment.
func awsProfileEnv(t *testing.T, e *env, keyID, secret string) []string {
	t.Helper()
	cfg, err := client.LoadConfig(e.home)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	profile := filepath.Join(dir, "config")
	creds := filepath.Join(dir, "credentials")
	for f, text := range map[string]string{
		ca:      cfg.CA,
		profile: "[profile postern]\nregion = us-east-1\nendpoint_url = " + e.url + "\nca_bundle = " + ca + "\n",
		creds:   "[postern]\naws_access_key_id = " + keyID + "\naws_secret_access_key = " + secret + "\n",
	} {
		if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Left out, not set empty: an empty AWS_CA_BUNDLE turns the CLI's
	// certificate check off.
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env, "AWS_CONFIG_FILE="+profile, "AWS_SHARED_CREDENTIALS_FILE="+creds, "HOME="+dir, "AWS_PAGER=", "SSL_CERT_FILE="+ca)
}

// awsCommand is the AWS CLI at awsBin, signed with the access key, against
// e's server, trusting its CA.
func awsCommand(t *testing.T, e *env, awsBin, keyID, secret string, args ...string) *exec.Cmd {
	t.Helper()
	cfg, err := client.LoadConfig(e.home)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(e.dir, "aws-ca.pem")
	if err := os.WriteFile(ca, []byte(cfg.CA), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(testCtx(t), awsBin, append(args, "--endpoint-url", e.url, "--region", "us-east-1", "--output", "json")...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+keyID, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_CA_BUNDLE="+ca,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "HOME="+e.dir, "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
	return cmd
}

var accessKeyRE = regexp.MustCompile(`AWS_ACCESS_KEY_ID=(AKIA[A-Z2-7]{16})\nAWS_SECRET_ACCESS_KEY=(\S{40})\n`)

// TestAWSCLIDescribeInstanceInformation: an access key from `postern
// access-keys create` signs the AWS CLI's requests; `aws ssm
// describe-instance-information` lists the nodes its user may see, with
// filters and AWS's errors for a wrong secret, a deleted key and bad
// input.
func TestAWSCLIDescribeInstanceInformation(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)
	m := accessKeyRE.FindStringSubmatch(e.mustRun(ctx, "access-keys", "create"))
	if m == nil {
		t.Fatal("access-keys create printed no key")
	}
	id, secret := m[1], m[2]
	if ls := e.mustRun(ctx, "access-keys", "ls"); !strings.Contains(ls, id) || strings.Contains(ls, secret) {
		t.Errorf("access-keys ls:\n%s", ls)
	}

	out, errOut, ok := awsCLI(t, e, id, secret, "ssm", "describe-instance-information")
	if !ok {
		t.Fatalf("aws ssm describe-instance-information: %s", errOut)
	}
	var res struct {
		InstanceInformationList []struct {
			InstanceId, PingStatus, ComputerName, ResourceType, PlatformType string
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(res.InstanceInformationList) != 1 {
		t.Fatalf("instances: %s", out)
	}
	n := res.InstanceInformationList[0]
	if !strings.HasPrefix(n.InstanceId, "mi-") || n.PingStatus != "Online" || n.ComputerName != hostname(t) || n.ResourceType != "ManagedInstance" || n.PlatformType != "Linux" {
		t.Errorf("instance: %+v", n)
	}
	// A profile, as the README writes one: the endpoint, the CA and the
	// key in the AWS CLI's own files, nothing on the command line.
	cmd := exec.CommandContext(ctx, "aws", "--profile", "postern", "ssm", "describe-instance-information", "--output", "json")
	cmd.Env = awsProfileEnv(t, e, id, secret)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), n.InstanceId) {
		t.Errorf("aws --profile postern ssm describe-instance-information: %v\n%s", err, out)
	}
	out, _, _ = awsCLI(t, e, id, secret, "ssm", "describe-instance-information", "--filters", "Key=PingStatus,Values=ConnectionLost")
	if !strings.Contains(out, `"InstanceInformationList": []`) {
		t.Errorf("filtered to ConnectionLost: %s", out)
	}
	for _, c := range []struct {
		name, secret string
		args         []string
		want         string
	}{
		{"wrong secret", strings.Repeat("x", 40), nil, "InvalidSignatureException"},
		{"max results out of range", secret, []string{"--max-results", "100"}, "ValidationException"},
		{"unknown filter", secret, []string{"--filters", "Key=tag:Env,Values=prod"}, "InvalidFilterKey"},
	} {
		_, errOut, ok := awsCLI(t, e, id, c.secret, append([]string{"ssm", "describe-instance-information"}, c.args...)...)
		if ok || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: ok %v, %s; want %s", c.name, ok, errOut, c.want)
		}
	}

	// Sessions: listed, terminated, in the history; a node's connection;
	// documents by AWS's names.
	if out, _, _ := awsCLI(t, e, id, secret, "ssm", "get-connection-status", "--target", n.InstanceId); !strings.Contains(out, `"connected"`) {
		t.Errorf("get-connection-status: %s", out)
	}
	if out, errOut, _ := awsCLI(t, e, id, secret, "ssm", "get-document", "--name", "AWS-StartPortForwardingSession"); !strings.Contains(out, "portNumber") {
		t.Errorf("get-document: %s %s", out, errOut)
	}
	if _, errOut, ok := awsCLI(t, e, id, secret, "ssm", "get-document", "--name", "No-Such-Document"); ok || !strings.Contains(errOut, "InvalidDocument") {
		t.Errorf("get-document of nothing: %s", errOut)
	}
	// Documents made and changed with create-document and
	// update-document; the preferences are SSM-SessionManagerRunShell.
	doc := func(desc string) string {
		return `{"schemaVersion": "1.0", "description": "` + desc + `", "sessionType": "Standard_Stream", "inputs": {}}`
	}
	if out, errOut, ok := awsCLI(t, e, id, secret, "ssm", "create-document", "--name", "Team-Shell", "--document-type", "Session", "--content", doc("one")); !ok || !strings.Contains(out, `"DocumentVersion": "1"`) {
		t.Errorf("create-document: %s %s", out, errOut)
	}
	if _, errOut, ok := awsCLI(t, e, id, secret, "ssm", "create-document", "--name", "Team-Shell", "--document-type", "Session", "--content", doc("two")); ok || !strings.Contains(errOut, "DocumentAlreadyExists") {
		t.Errorf("create-document twice: %s", errOut)
	}
	if out, errOut, ok := awsCLI(t, e, id, secret, "ssm", "update-document", "--name", "Team-Shell", "--document-version", "$LATEST", "--content", doc("two")); !ok || !strings.Contains(out, `"DocumentVersion": "2"`) {
		t.Errorf("update-document: %s %s", out, errOut)
	}
	if _, errOut, ok := awsCLI(t, e, id, secret, "ssm", "update-document", "--name", "Team-Shell", "--document-version", "1", "--content", doc("three")); ok || !strings.Contains(errOut, "InvalidDocumentVersion") {
		t.Errorf("update-document of an old version: %s", errOut)
	}
	prefs := `{"schemaVersion": "1.0", "sessionType": "Standard_Stream", "inputs": {"idleSessionTimeout": "15"}}`
	if _, errOut, ok := awsCLI(t, e, id, secret, "ssm", "update-document", "--name", "SSM-SessionManagerRunShell", "--document-version", "$LATEST", "--content", prefs); !ok {
		t.Errorf("update-document of the preferences: %s", errOut)
	}
	if out := e.mustRun(ctx, "prefs", "get"); !strings.Contains(out, `"idleSessionTimeout": "15"`) {
		t.Errorf("the preferences after update-document:\n%s", out)
	}
	long := exec.CommandContext(ctx, bin, "exec", n.InstanceId, "--", "sleep", "60")
	long.Env = append(os.Environ(), e.vars()...)
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}
	var sid string
	for try := 0; sid == ""; try++ {
		if try == 100 {
			t.Fatal("the running session never showed in describe-sessions --state Active")
		}
		time.Sleep(100 * time.Millisecond)
		out, errOut, ok := awsCLI(t, e, id, secret, "ssm", "describe-sessions", "--state", "Active")
		if !ok {
			t.Fatalf("describe-sessions: %s", errOut)
		}
		var ds struct {
			Sessions []struct{ SessionId, Status, Target, Owner string }
		}
		json.Unmarshal([]byte(out), &ds)
		if len(ds.Sessions) == 1 {
			sid = ds.Sessions[0].SessionId
			if ds.Sessions[0].Target != n.InstanceId || !strings.HasSuffix(ds.Sessions[0].Owner, ":user/admin") {
				t.Errorf("active session: %+v", ds.Sessions[0])
			}
		}
	}
	if out, errOut, ok := awsCLI(t, e, id, secret, "ssm", "terminate-session", "--session-id", sid); !ok || !strings.Contains(out, sid) {
		t.Errorf("terminate-session: %s %s", out, errOut)
	}
	long.Wait()
	if out, _, _ := awsCLI(t, e, id, secret, "ssm", "describe-sessions", "--state", "History", "--filters", "key=SessionId,value="+sid); !strings.Contains(out, `"Terminated"`) {
		t.Errorf("the terminated session in the history: %s", out)
	}

	// In the audit trail, as the operation, by the key's user.
	var rs []api.AuditRecord
	e.jsonOut(ctx, &rs, "audit", "query")
	audited := false
	for _, r := range rs {
		audited = audited || r.Action == "AWS AmazonSSM.TerminateSession" && strings.HasSuffix(r.Actor, ":user/admin") && r.Result == "Allowed"
	}
	if !audited {
		t.Errorf("no audit record of the AWS CLI's TerminateSession in:\n%+v", rs)
	}

	// The operation is chosen by X-Amz-Target: a signature that leaves
	// it out is refused, so a request cannot be replayed as another.
	body := []byte(`{}`)
	req, _ := http.NewRequest("POST", e.url+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, req, hex.EncodeToString(sum[:]), "ssm", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "AmazonSSM.DescribeInstanceInformation") // after signing
	cfg, _ := client.LoadConfig(e.home)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(cfg.CA))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "IncompleteSignatureException") {
		t.Errorf("an unsigned X-Amz-Target: %d %s", resp.StatusCode, b)
	}

	// A user who may not describe nodes sees none.
	pw := "nobody-password-1"
	cmd = exec.CommandContext(ctx, bin, "users", "create", "nobody", "--password")
	cmd.Env = append(os.Environ(), append(e.vars(), "POSTERN_PASSWORD="+pw)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("users create: %v\n%s", err, out)
	}
	nobody := e.as(t, "nobody", pw)
	m = accessKeyRE.FindStringSubmatch(nobody.mustRun(ctx, "access-keys", "create"))
	if m == nil {
		t.Fatal("nobody's access-keys create printed no key")
	}
	out, errOut, ok = awsCLI(t, e, m[1], m[2], "ssm", "describe-instance-information")
	if !ok || !strings.Contains(out, `"InstanceInformationList": []`) {
		t.Errorf("nobody's describe-instance-information: %s %s", out, errOut)
	}

	// Changing a user's groups revokes their access keys with their
	// tokens.
	e.mustRun(ctx, "users", "set", "nobody", "--groups", "operators")
	if _, errOut, ok := awsCLI(t, e, m[1], m[2], "ssm", "describe-instance-information"); ok || !strings.Contains(errOut, "UnrecognizedClientException") {
		t.Errorf("a key of a user whose groups changed: ok %v, %s", ok, errOut)
	}

	// A deleted key is refused at once.
	// Short-lived credentials (STS GetSessionToken) sign as the key's
	// user, are refused when altered, make no more of themselves, and
	// end with the key that made them.
	out, errOut, ok = awsCLI(t, e, id, secret, "sts", "get-session-token", "--duration-seconds", "900")
	if !ok {
		t.Fatalf("aws sts get-session-token: %s", errOut)
	}
	var st struct {
		Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || !strings.HasPrefix(st.Credentials.AccessKeyId, "ASIA") || st.Credentials.SessionToken == "" {
		t.Fatalf("get-session-token: %v\n%s", err, out)
	}
	if exp, err := time.Parse(time.RFC3339, st.Credentials.Expiration); err != nil || time.Until(exp) > 16*time.Minute || time.Until(exp) < 10*time.Minute {
		t.Errorf("session credentials expire at %s, want in 15 minutes", st.Credentials.Expiration)
	}
	withToken := func(token string, args ...string) (string, bool) {
		cmd := awsCommand(t, e, "aws", st.Credentials.AccessKeyId, st.Credentials.SecretAccessKey, args...)
		cmd.Env = append(cmd.Env, "AWS_SESSION_TOKEN="+token)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err == nil
	}
	if out, ok := withToken(st.Credentials.SessionToken, "ssm", "describe-instance-information"); !ok || !strings.Contains(out, n.InstanceId) {
		t.Errorf("signed with session credentials: %v %s", ok, out)
	}
	tok := []byte(st.Credentials.SessionToken)
	tok[len(tok)/2] ^= 1
	for _, c := range []struct {
		name, token, want string
		args              []string
	}{
		{"altered token", string(tok), "UnrecognizedClientException", []string{"ssm", "describe-instance-information"}},
		{"no token", "", "UnrecognizedClientException", []string{"ssm", "describe-instance-information"}},
		{"more of themselves", st.Credentials.SessionToken, "AccessDenied", []string{"sts", "get-session-token"}},
	} {
		if out, ok := withToken(c.token, c.args...); ok || !strings.Contains(out, c.want) {
			t.Errorf("%s: ok %v, %s; want %s", c.name, ok, out, c.want)
		}
	}

	e.mustRun(ctx, "access-keys", "delete", id)
	_, errOut, ok = awsCLI(t, e, id, secret, "ssm", "describe-instance-information")
	if ok || !strings.Contains(errOut, "UnrecognizedClientException") {
		t.Errorf("a deleted key: ok %v, %s", ok, errOut)
	}
	if out, ok := withToken(st.Credentials.SessionToken, "ssm", "describe-instance-information"); ok || !strings.Contains(out, "was deleted") {
		t.Errorf("session credentials of a deleted key: ok %v, %s", ok, out)
	}
}

// TestAWSCLILogs: `aws logs` reads the built-in log groups as it reads
// CloudWatch Logs: groups, streams, a stream's events, and events found
// by a filter pattern, paged by tokens that neither repeat nor skip.
func TestAWSCLILogs(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)
	m := accessKeyRE.FindStringSubmatch(e.mustRun(ctx, "access-keys", "create"))
	if m == nil {
		t.Fatal("access-keys create printed no key")
	}
	aws := func(args ...string) string {
		t.Helper()
		out, errOut, ok := awsCLI(t, e, m[1], m[2], append([]string{"logs"}, args...)...)
		if !ok {
			t.Fatalf("aws logs %v: %s", args, errOut)
		}
		return out
	}
	e.mustRun(ctx, "exec", hostname(t), "--", "sh", "-c", `i=0; while [ $i -lt 30 ]; do i=$((i+1)); echo "aws-line-$i"; sleep 0.03; done`)
	id := e.sessions(ctx)[0].ID
	e.waitDelivered(ctx, id)
	const group = "/postern/sessions"

	if out := aws("describe-log-groups", "--log-group-name-prefix", "/postern/"); !strings.Contains(out, `"logGroupName": "`+group+`"`) {
		t.Errorf("describe-log-groups: %s", out)
	}
	if out := aws("describe-log-streams", "--log-group-name", group); !strings.Contains(out, `"logStreamName": "`+id+`"`) {
		t.Errorf("describe-log-streams: %s", out)
	}
	type events struct {
		Events []struct {
			LogStreamName, Message, EventID string
			Timestamp                       int64
		}
	}
	var found events
	json.Unmarshal([]byte(aws("filter-log-events", "--log-group-name", group, "--filter-pattern", `"aws-line-7"`)), &found)
	if len(found.Events) == 0 || found.Events[0].LogStreamName != id || !strings.Contains(found.Events[0].Message, "aws-line-7") {
		t.Errorf("filter-log-events for aws-line-7: %+v", found)
	}
	// The same events, whole or a page of two at a time.
	var whole, paged events
	json.Unmarshal([]byte(aws("filter-log-events", "--log-group-name", group, "--log-stream-names", id)), &whole)
	json.Unmarshal([]byte(aws("filter-log-events", "--log-group-name", group, "--log-stream-names", id, "--page-size", "2")), &paged)
	if len(whole.Events) < 2 || len(paged.Events) != len(whole.Events) {
		t.Fatalf("%d events whole, %d in pages of two", len(whole.Events), len(paged.Events))
	}
	for i := range whole.Events {
		if whole.Events[i].EventID != paged.Events[i].EventID {
			t.Fatalf("event %d: %s whole, %s paged: pages repeated or skipped events", i, whole.Events[i].EventID, paged.Events[i].EventID)
		}
	}
	var got events
	json.Unmarshal([]byte(aws("get-log-events", "--log-group-name", group, "--log-stream-name", id, "--start-from-head")), &got)
	if len(got.Events) != len(whole.Events) || !strings.Contains(got.Events[len(got.Events)-1].Message+got.Events[0].Message, id) {
		t.Errorf("get-log-events: %d events, want %d", len(got.Events), len(whole.Events))
	}
	// Without --start-from-head, as from CloudWatch Logs: the newest
	// events; the backward token goes back from there.
	var newest, before struct {
		Events            []struct{ Message string }
		NextBackwardToken string `json:"nextBackwardToken"`
	}
	json.Unmarshal([]byte(aws("get-log-events", "--log-group-name", group, "--log-stream-name", id, "--limit", "3")), &newest)
	json.Unmarshal([]byte(aws("get-log-events", "--log-group-name", group, "--log-stream-name", id, "--limit", "3", "--next-token", newest.NextBackwardToken)), &before)
	if n := len(got.Events); n >= 6 {
		var want, gotBack []string
		for _, e := range got.Events[n-6:] {
			want = append(want, e.Message)
		}
		for _, e := range append(before.Events, newest.Events...) {
			gotBack = append(gotBack, e.Message)
		}
		if !slices.Equal(gotBack, want) {
			t.Errorf("the newest 3 events and the 3 before them: %q, want %q", gotBack, want)
		}
	}
	// A group made, given a retention and a metric filter, and deleted.
	aws("create-log-group", "--log-group-name", "/aws-cli/made")
	if _, errOut, ok := awsCLI(t, e, m[1], m[2], "logs", "create-log-group", "--log-group-name", "/aws-cli/made"); ok || !strings.Contains(errOut, "ResourceAlreadyExistsException") {
		t.Errorf("creating a group twice: %s", errOut)
	}
	aws("put-retention-policy", "--log-group-name", "/aws-cli/made", "--retention-in-days", "30")
	aws("put-metric-filter", "--log-group-name", "/aws-cli/made", "--filter-name", "errors", "--filter-pattern", "ERROR",
		"--metric-transformations", "metricName=Errors,metricNamespace=App,metricValue=1")
	if out := aws("describe-metric-filters", "--log-group-name", "/aws-cli/made"); !strings.Contains(out, `"filterName": "errors"`) || !strings.Contains(out, `"metricName": "Errors"`) {
		t.Errorf("describe-metric-filters: %s", out)
	}
	if out := aws("describe-log-groups", "--log-group-name-prefix", "/aws-cli/"); !strings.Contains(out, `"retentionInDays": 30`) {
		t.Errorf("the made group: %s", out)
	}
	aws("delete-metric-filter", "--log-group-name", "/aws-cli/made", "--filter-name", "errors")
	aws("delete-log-group", "--log-group-name", "/aws-cli/made")
	if out := aws("describe-log-groups", "--log-group-name-prefix", "/aws-cli/"); strings.Contains(out, "/aws-cli/made") {
		t.Errorf("a deleted group is still listed: %s", out)
	}

	// A Logs Insights query, started and its results fetched.
	var started struct{ QueryId string }
	now := time.Now().Unix()
	json.Unmarshal([]byte(aws("start-query", "--log-group-name", group, "--start-time", strconv.FormatInt(now-3600, 10), "--end-time", strconv.FormatInt(now+60, 10),
		"--query-string", `filter @logStream = "`+id+`" | stats count(*) as n`)), &started)
	var qr struct {
		Status  string
		Results [][]struct{ Field, Value string }
	}
	for try := 0; qr.Status != "Complete"; try++ {
		if try == 100 || qr.Status == "Failed" {
			t.Fatalf("get-query-results: %+v", qr)
		}
		time.Sleep(50 * time.Millisecond)
		json.Unmarshal([]byte(aws("get-query-results", "--query-id", started.QueryId)), &qr)
	}
	if len(qr.Results) != 1 || len(qr.Results[0]) != 1 || qr.Results[0][0].Field != "n" || qr.Results[0][0].Value != strconv.Itoa(len(whole.Events)) {
		t.Errorf("query results %+v, want n = %d", qr.Results, len(whole.Events))
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"get-log-events", "--log-group-name", "/nope", "--log-stream-name", "x"}, "ResourceNotFoundException"},
		{[]string{"start-query", "--log-group-name", group, "--start-time", "0", "--end-time", "1", "--query-string", "stats nonsense("}, "MalformedQueryException"},
		{[]string{"get-query-results", "--query-id", "0123456789abcdef0123456789abcdef"}, "ResourceNotFoundException"},
		{[]string{"filter-log-events", "--log-group-name", group, "--filter-pattern", `{ $.x = `}, "InvalidParameterException"},
	} {
		if _, errOut, ok := awsCLI(t, e, m[1], m[2], append([]string{"logs"}, c.args...)...); ok || !strings.Contains(errOut, c.want) {
			t.Errorf("aws logs %v: ok %v, %s; want %s", c.args, ok, errOut, c.want)
		}
	}
}

// awsCLIv2 finds version 2 of the AWS CLI, which has aws logs tail (the
// machine's own may be version 1): Debian's awscli package, which
// scripts/install-test-deps installs.
func awsCLIv2(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/aws", "/usr/local/bin/aws"} {
		if out, err := exec.Command(p, "--version").CombinedOutput(); err == nil && strings.HasPrefix(string(out), "aws-cli/2.") {
			return p
		}
	}
	t.Fatal("version 2 of the AWS CLI is not installed at /usr/bin/aws: run ./scripts/install-test-deps")
	return ""
}

// TestAWSCLILogsTail: aws logs tail prints a built-in group's events, and
// with --follow goes on printing what sessions write afterwards, as
// against CloudWatch Logs.
func TestAWSCLILogsTail(t *testing.T) {
	ctx := testCtx(t)
	e := startDev(t)
	v2 := awsCLIv2(t)
	m := accessKeyRE.FindStringSubmatch(e.mustRun(ctx, "access-keys", "create"))
	if m == nil {
		t.Fatal("access-keys create printed no key")
	}
	e.mustRun(ctx, "exec", hostname(t), "--", "sh", "-c", `for i in 1 2 3; do echo "tail-line-$i"; done`)
	e.waitDelivered(ctx, e.sessions(ctx)[0].ID)
	out, err := awsCommand(t, e, v2, m[1], m[2], "logs", "tail", "/postern/sessions", "--since", "1h", "--format", "short").Output()
	if err != nil {
		t.Fatalf("aws logs tail: %v\n%s", err, out)
	}
	for i := 1; i <= 3; i++ {
		if !strings.Contains(string(out), fmt.Sprintf("tail-line-%d", i)) {
			t.Errorf("aws logs tail printed no tail-line-%d:\n%s", i, out)
		}
	}

	follow := awsCommand(t, e, v2, m[1], m[2], "logs", "tail", "/postern/sessions", "--follow", "--since", "1h", "--format", "short")
	var fout syncBuffer
	follow.Stdout, follow.Stderr = &fout, &fout
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { follow.Process.Kill(); follow.Wait() }()
	waitOut := func(s string) {
		t.Helper()
		for !strings.Contains(fout.String(), s) {
			select {
			case <-ctx.Done():
				t.Fatalf("aws logs tail --follow printed no %s:\n%s", s, fout.String())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	// What is there first; then what comes after, which only following
	// can show.
	waitOut("tail-line-3")
	e.mustRun(ctx, "exec", hostname(t), "--", "sh", "-c", `for i in 1 2 3; do echo "followed-line-$i"; done`)
	waitOut("followed-line-3")
}

// syncBuffer is a buffer a command writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAWSCLIStartSession: `aws ssm start-session` (AWS CLI version 2)
// against Postern runs AWS's own session-manager-plugin (built from its
// source), which opens the session's data channel: a shell on the node,
// typed into through a real terminal, resized, exited, and recorded as
// any session; its connection is cut in the middle, and the plugin
// resumes it (ResumeSession) where it was.
func TestAWSCLIStartSession(t *testing.T) {
	ctx := testCtx(t)
	e := startDev(t)
	v2 := awsCLIv2(t)
	plugin := plugintest.Path(t)
	m := accessKeyRE.FindStringSubmatch(e.mustRun(ctx, "access-keys", "create"))
	if m == nil {
		t.Fatal("access-keys create printed no key")
	}
	// The CLI runs session-manager-plugin from the PATH; the plugin
	// checks the data channel's certificate against the roots
	// SSL_CERT_FILE names: Postern's CA (see the README).
	bin := t.TempDir()
	if err := os.Symlink(plugin, filepath.Join(bin, "session-manager-plugin")); err != nil {
		t.Fatal(err)
	}
	cmd := awsCommand(t, e, v2, m[1], m[2], "ssm", "start-session", "--target", hostname(t))
	cmd.Env = append(cmd.Env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "SSL_CERT_FILE="+filepath.Join(e.dir, "aws-ca.pem"))
	// Through a proxy that can cut connections: the CLI's endpoint, and
	// so the StreamUrl the plugin dials.
	px, err := netfault.New(strings.TrimPrefix(e.url, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	for i, a := range cmd.Args {
		if a == "--endpoint-url" {
			cmd.Args[i+1] = "https://" + px.Addr()
		}
	}
	pty := ptytest.Start(t, cmd)
	id := pty.ExpectRegexp(ctx, regexp.MustCompile(`Starting session with SessionId: (\S+)`))[1]
	pty.WriteLine(setPrompt)
	pty.Expect(ctx, prompt)
	pty.WriteLine("echo plugin-$((6*7))")
	pty.Expect(ctx, "plugin-42")
	pty.Expect(ctx, prompt)
	// The plugin looks at its terminal's size twice a second: asked
	// until the shell has it.
	pty.Resize(111, 33)
	for !strings.Contains(pty.Output(), "33 111") {
		if ctx.Err() != nil {
			t.Fatalf("the shell never saw the new size:\n%s", pty.Output())
		}
		time.Sleep(200 * time.Millisecond)
		pty.WriteLine("stty size")
		pty.Expect(ctx, prompt)
	}
	// Cut while the shell is about to print: the plugin resumes, and
	// what was printed meanwhile is shown once.
	// (Once the line is echoed: the plugin ends, as with AWS, when it
	// finds the connection broken while it sends rather than while it
	// reads.)
	pty.WriteLine("sleep 0.5; echo after-$((6*8))")
	pty.Expect(ctx, "echo after-$((6*8))")
	if n := px.Cut(); n == 0 {
		t.Fatal("no connection to cut")
	}
	pty.Expect(ctx, "after-48")
	pty.Expect(ctx, prompt)
	pty.WriteLine("echo typed-$((7*7))")
	pty.Expect(ctx, "typed-49")
	if n := strings.Count(pty.Output(), "after-48"); n != 1 {
		t.Errorf("after-48 shown %d times across the resume, want once", n)
	}
	pty.WriteLine("exit 0")
	pty.Expect(ctx, "exit code 0")
	if code := pty.Wait(ctx); code != 0 {
		t.Errorf("aws ssm start-session exited %d", code)
	}

	var sess api.Session
	for {
		e.jsonOut(ctx, &sess, "sessions", "show", id)
		if sess.Status != "Connected" && sess.Status != "Connecting" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if sess.Status != "Terminated" || sess.ExitCode == nil || *sess.ExitCode != 0 {
		t.Errorf("session %s: %s, exit %v; want Terminated with 0", id, sess.Status, sess.ExitCode)
	}
	if log := e.mustRun(ctx, "logs", "get", id); !strings.Contains(log, "plugin-42") {
		t.Errorf("the recording of %s holds no plugin-42:\n%s", id, log)
	}

	// A command without a terminal (NonInteractiveCommands): its
	// standard output and error shown, how it ended told. (From the
	// README's profile, with version 1 of the AWS CLI.)
	cmd = exec.CommandContext(ctx, "aws", "--profile", "postern", "ssm", "start-session", "--target", hostname(t),
		"--document-name", "AWS-StartNonInteractiveCommand", "--parameters", `{"command":["echo to-out-$((2*3)); echo to-err-$((3*3)) >&2; exit 3"]}`)
	cmd.Env = append(awsProfileEnv(t, e, m[1], m[2]), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	pty = ptytest.Start(t, cmd)
	pty.Expect(ctx, "to-out-6")
	pty.Expect(ctx, "exit code 3")
	pty.Wait(ctx)
	if !strings.Contains(pty.Output(), "to-err-9") {
		t.Errorf("the command's standard error is not shown:\n%s", pty.Output())
	}

	// The data channel takes only the TokenValue StartSession gave for
	// its session: another token (here a sign-in's, valid for the API)
	// is refused, with why.
	cfg, _ := client.LoadConfig(e.home)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(cfg.CA))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for token, want := range map[string]string{"pst_not-a-token": "unknown, expired or revoked", cfg.Token: "not this session's data channel's"} {
		ws, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(e.url, "https")+"/v1/ssm/data-channel/"+id, &websocket.DialOptions{HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		open, _ := json.Marshal(map[string]string{"MessageSchemaVersion": "1.0", "RequestId": "r", "TokenValue": token, "ClientId": "c"})
		ws.Write(ctx, websocket.MessageText, open)
		_, _, err = ws.Read(ctx)
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || !strings.Contains(ce.Reason, want) {
			t.Errorf("a data channel opened with another token: %v; want a policy violation saying %q", err, want)
		}
		ws.CloseNow()
	}
}

// awsPluginEnv is the environment the AWS CLI runs session-manager-plugin
// in, signed with the access key: the plugin on the PATH, and Postern's
// CA as the roots it checks the data channel's certificate against.
func awsPluginEnv(t *testing.T, e *env, keyID, secret string) []string {
	t.Helper()
	bin := t.TempDir()
	if err := os.Symlink(plugintest.Path(t), filepath.Join(bin, "session-manager-plugin")); err != nil {
		t.Fatal(err)
	}
	env := awsCommand(t, e, awsCLIv2(t), keyID, secret).Env
	return append(env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "SSL_CERT_FILE="+filepath.Join(e.dir, "aws-ca.pem"))
}

// TestAWSCLIPortSessions: AWS-StartSSHSession as ssh's ProxyCommand to a
// real sshd, and AWS-StartPortForwardingSession carrying a
// SHA-256-checked transfer, both through aws ssm start-session and AWS's
// plugin.
func TestAWSCLIPortSessions(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	sshPort, key := startSSHD(t, ctx)
	e := startDev(t)
	v2 := awsCLIv2(t)
	m := accessKeyRE.FindStringSubmatch(e.mustRun(ctx, "access-keys", "create"))
	if m == nil {
		t.Fatal("access-keys create printed no key")
	}
	env := awsPluginEnv(t, e, m[1], m[2])
	endpoint := " --endpoint-url " + e.url + " --region us-east-1"

	ssh := exec.CommandContext(ctx, "ssh", "-F", "/dev/null", "-i", key,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
		"-o", "ProxyCommand="+v2+" ssm start-session --target %h --document-name AWS-StartSSHSession --parameters portNumber=%p"+endpoint,
		"-p", fmt.Sprint(sshPort), "root@"+hostname(t), "echo via-aws-ssh-$((40+2))")
	ssh.Env = env
	began := time.Now()
	if out, err := ssh.CombinedOutput(); err != nil || !strings.Contains(string(out), "via-aws-ssh-42") {
		t.Fatalf("ssh with aws ssm start-session as ProxyCommand: %v\n%s", err, out)
	}
	t.Logf("ssh through aws ssm start-session took %v", time.Since(began))
	// Its session carried the one connection, and ended with it.
	var hist []api.Session
	e.jsonOut(ctx, &hist, "sessions")
	if len(hist) != 1 || hist[0].Document != "AWS-StartSSHSession" || hist[0].SessionType != "Port" {
		t.Fatalf("sessions = %+v, want one AWS-StartSSHSession port session", hist)
	}
	if s := waitSession(ctx, t, e, hist[0].ID, func(s api.Session) bool { return !isActive(s) }); s.Status != "Terminated" {
		t.Errorf("the ssh session ended %s/%s", s.Status, s.StatusReason)
	}

	// A target that answers the SHA-256 of the n bytes it reads (more
	// than the channel lets wait for acknowledgement; the plugin sends
	// at most about 1 MB/s, one 1 KiB message a millisecond).
	const n = 1 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				h := sha256.New()
				if _, err := io.CopyN(h, c, n); err == nil {
					io.WriteString(c, hex.EncodeToString(h.Sum(nil)))
				}
			}()
		}
	}()
	// forward starts aws ssm start-session with a port document, its
	// local port local, and returns it once the plugin listens.
	forward := func(local int, document, params string) (*exec.Cmd, *syncBuffer) {
		fwd := exec.CommandContext(ctx, v2, "ssm", "start-session", "--target", hostname(t), "--document-name", document,
			"--parameters", fmt.Sprintf("portNumber=%d,localPortNumber=%d%s", ln.Addr().(*net.TCPAddr).Port, local, params), "--endpoint-url", e.url, "--region", "us-east-1")
		fwd.Env = env
		fwd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the CLI and its plugin, killed together
		fout := &syncBuffer{}
		fwd.Stdout, fwd.Stderr = fout, fout
		if err := fwd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Kill(-fwd.Process.Pid, syscall.SIGKILL); fwd.Wait() })
		for !strings.Contains(fout.String(), "opened for sessionId") {
			select {
			case <-ctx.Done():
				t.Fatalf("aws ssm start-session (%s) printed:\n%s", document, fout.String())
			case <-time.After(100 * time.Millisecond):
			}
		}
		return fwd, fout
	}
	local := freePort(t)
	fwd, fout := forward(local, "AWS-StartPortForwardingSession", "")
	transfer := func(i int) error {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", local))
		if err != nil {
			return err
		}
		defer c.Close()
		data := make([]byte, n)
		rand.Read(data)
		sum := sha256.Sum256(data)
		go c.Write(data)
		got, err := io.ReadAll(io.LimitReader(c, 64))
		if err != nil || string(got) != hex.EncodeToString(sum[:]) {
			return fmt.Errorf("connection %d: the target hashed %q (%v), want %x", i, got, err, sum)
		}
		return nil
	}
	for i := range 2 { // one connection after another
		if err := transfer(i); err != nil {
			t.Fatal(err)
		}
	}
	// Several at once: the plugin multiplexes them over the channel.
	began = time.Now()
	errs := make(chan error, 3)
	for i := range 3 {
		go func() { errs <- transfer(2 + i) }()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	t.Logf("3 connections at once carried %d MiB each in %v", n>>20, time.Since(began))
	// Terminated from elsewhere: the plugin is told, and exits.
	m = regexp.MustCompile(`Starting session with SessionId: (\S+)`).FindStringSubmatch(fout.String())
	if m == nil {
		t.Fatalf("no session id in:\n%s", fout.String())
	}
	// The three were open at once: multiplexed, not one after another.
	cs, err := e.api().Connections(ctx, m[1])
	if err != nil || len(cs) != 5 {
		t.Fatalf("connections of %s: %d, %v; want 5", m[1], len(cs), err)
	}
	for _, c := range cs[2:] {
		for _, d := range cs[2:] {
			if c.EndTime == nil || d.EndTime == nil || !c.StartTime.Before(*d.EndTime) {
				t.Errorf("connections %d and %d did not overlap: %+v", c.ID, d.ID, cs[2:])
			}
		}
	}
	e.mustRun(ctx, "terminate", m[1])
	exited := make(chan struct{})
	go func() { fwd.Process.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-ctx.Done():
		t.Fatalf("the plugin did not exit when its session was terminated:\n%s", fout.String())
	}

	// To a host the node reaches (AWS-StartPortForwardingSessionToRemoteHost).
	local = freePort(t)
	_, fout = forward(local, "AWS-StartPortForwardingSessionToRemoteHost", ",host=localhost")
	if err := transfer(5); err != nil {
		t.Fatal(err)
	}
	m = regexp.MustCompile(`Starting session with SessionId: (\S+)`).FindStringSubmatch(fout.String())
	if cs, err := e.api().Connections(ctx, m[1]); err != nil || len(cs) != 1 || cs[0].TargetHost != "localhost" {
		t.Errorf("the remote host's connections: %+v, %v; want one to localhost", cs, err)
	}
}
