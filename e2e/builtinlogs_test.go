package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/ptytest"
	"github.com/postern/postern/recording"
)

// noAWS clears every AWS setting the environment might hold, so that log
// groups are Postern's built-in ones.
var noAWS = []string{
	"AWS_REGION=", "AWS_DEFAULT_REGION=", "AWS_PROFILE=", "AWS_ENDPOINT_URL_LOGS=", "AWS_ENDPOINT_URL=",
	"AWS_ACCESS_KEY_ID=", "AWS_CONFIG_FILE=", "AWS_SHARED_CREDENTIALS_FILE=", "AWS_WEB_IDENTITY_TOKEN_FILE=",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=",
}

// TestBuiltinLogGroups runs preferences that name a log group on a server
// without AWS: the log group is Postern's own, with CloudWatch Logs'
// semantics. A missing or unencrypted group refuses the session as
// CloudWatch's would; an existing one receives the transcript at the end,
// or Session Manager's events while the session runs.
func TestBuiltinLogGroups(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDevEnv(t, noAWS)
	e.dev.waitFor(ctx, regexp.MustCompile(`log groups named by preferences are Postern's built-in ones`))
	node := hostname(t)
	setPrefs := func(inputs string) {
		t.Helper()
		p := filepath.Join(t.TempDir(), "prefs.json")
		doc := `{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{` + inputs + `}}`
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		e.mustRun(ctx, "prefs", "set", "-f", p)
	}
	refused := func(want string) {
		t.Helper()
		out, errOut, code := e.run(ctx, "exec", node, "--", "echo", "must-not-run")
		if code == 0 || strings.Contains(out, "must-not-run") || !strings.Contains(errOut, want) {
			t.Errorf("exec: exit %d, stdout %q, stderr %q; want a refusal saying %q", code, out, errOut, want)
		}
	}

	setPrefs(`"cloudWatchLogGroupName":"/audit/sessions"`)
	refused("the log group /audit/sessions (cloudWatchLogGroupName) does not exist in Postern's built-in log store")

	if out := e.mustRun(ctx, "logs", "groups", "create", "/audit/sessions", "--retention-days", "30"); !strings.Contains(out, "Created log group /audit/sessions (prn:postern:logs:") {
		t.Errorf("groups create: %q", out)
	}
	_, errOut, code := e.run(ctx, "logs", "groups", "create", "bad", "--retention-days", "31")
	if code == 0 || !strings.Contains(errOut, "31") {
		t.Errorf("a retention CloudWatch does not offer: exit %d, %q", code, errOut)
	}
	_, errOut, code = e.run(ctx, "logs", "groups", "create", "/audit/sessions")
	if code == 0 || !strings.Contains(errOut, "already exists") {
		t.Errorf("creating a group twice: exit %d, %q", code, errOut)
	}

	setPrefs(`"cloudWatchLogGroupName":"/audit/sessions","cloudWatchEncryptionEnabled":true`)
	refused("encryption is not set up on the selected log group /audit/sessions. Either encrypt the log group or choose an option to enable logging without encryption")

	// At the end: the transcript, line by line, in a stream named after
	// the session.
	setPrefs(`"cloudWatchLogGroupName":"/audit/sessions"`)
	if out := e.mustRun(ctx, "exec", node, "--", "sh", "-c", "echo one; echo two"); out != "one\ntwo\n" {
		t.Fatalf("exec printed %q", out)
	}
	id := e.sessions(ctx)[0].ID
	s := e.waitDelivered(ctx, id)
	if !hasDelivery(s, "logs", "postern-logs:///audit/sessions/"+id) {
		t.Errorf("deliveries: %+v", s.Logs)
	}
	events := e.mustRun(ctx, "logs", "events", "/audit/sessions", id)
	if !strings.Contains(events, "\none\ntwo\n") || !strings.HasPrefix(events, "Script started on ") {
		t.Errorf("the stream holds\n%s\nwant the transcript", events)
	}
	if log := e.logs(ctx, id, "log"); strings.TrimRight(log, "\n") != strings.TrimRight(events, "\n") {
		t.Errorf("the stream differs from the transcript:\n%s\n---\n%s", events, log)
	}

	// Streamed, to an encrypted group: Session Manager's events. As in
	// Session Manager's logging guide, the key's policy must let the log
	// store use it for that group.
	e.mustRun(ctx, "keys", "create", "--alias", "alias/postern-logs")
	_, errOut, code = e.run(ctx, "logs", "groups", "create", "secure", "--kms-key-id", "alias/postern-logs")
	if code == 0 || !strings.Contains(errOut, "service logs.postern may not kms:GenerateDataKey") {
		t.Errorf("a group whose key's policy does not allow the log store: exit %d, %q", code, errOut)
	}
	policy := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(policy, []byte(`{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Principal": {"Postern": "prn:postern:iam:000000000001:root"}, "Action": "kms:*", "Resource": "*"},
		{"Effect": "Allow", "Principal": {"Service": "logs.postern"}, "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*", "kms:Describe*"], "Resource": "*",
		 "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": "prn:postern:logs:000000000001:log-group/secure"}}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun(ctx, "keys", "put-policy", "alias/postern-logs", "-f", policy)
	e.mustRun(ctx, "logs", "groups", "create", "secure", "--kms-key-id", "alias/postern-logs")
	setPrefs(`"cloudWatchLogGroupName":"secure","cloudWatchEncryptionEnabled":true,"cloudWatchStreamingEnabled":true`)
	e.mustRun(ctx, "exec", node, "--", "echo", "streamed-line")
	id = e.sessions(ctx)[0].ID
	e.waitDelivered(ctx, id)
	var evs []api.LogEvent
	for _, line := range strings.Split(strings.TrimSpace(e.mustRun(ctx, "logs", "events", "secure", id, "-o", "json")), "\n") {
		var ev api.LogEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("events -o json: %q: %v", line, err)
		}
		evs = append(evs, ev)
	}
	var data []string
	for _, ev := range evs {
		var m struct {
			SessionID   string   `json:"sessionId"`
			SessionData []string `json:"sessionData"`
			Target      struct {
				ID string `json:"id"`
			} `json:"target"`
		}
		if err := json.Unmarshal([]byte(ev.Message), &m); err != nil || m.SessionID != id || !strings.HasPrefix(m.Target.ID, "mi-") {
			t.Fatalf("event %q is not Session Manager's (%v)", ev.Message, err)
		}
		data = append(data, m.SessionData...)
	}
	if !strings.Contains(strings.Join(data, "\n"), "streamed-line") {
		t.Errorf("streamed events hold %q", data)
	}
	// The group's key must still serve it: disabled, or pending
	// deletion, new sessions are refused with the reason.
	e.mustRun(ctx, "keys", "disable", "alias/postern-logs")
	refused("the key alias/postern-logs of the log group secure cannot encrypt it")
	refused("is Disabled")
	e.mustRun(ctx, "keys", "enable", "alias/postern-logs")
	e.mustRun(ctx, "keys", "schedule-deletion", "alias/postern-logs", "--days", "7")
	refused("is PendingDeletion")
	e.mustRun(ctx, "keys", "cancel-deletion", "alias/postern-logs")
	e.mustRun(ctx, "keys", "enable", "alias/postern-logs")
	if out := e.mustRun(ctx, "exec", node, "--", "echo", "after-enable"); out != "after-enable\n" {
		t.Errorf("exec after enabling the key: %q", out)
	}

	var groups []api.LogGroup
	e.jsonOut(ctx, &groups, "logs", "groups", "ls", "-o", "json")
	// Postern's own groups are there too: where every session goes, the
	// audit trail's, and the account's events (kept 30 days).
	if len(groups) != 5 || groups[0].Name != "/audit/sessions" || groups[0].RetentionInDays != 30 || groups[0].StoredBytes == 0 ||
		groups[1].Name != "/postern/audit" || groups[1].StoredBytes == 0 ||
		groups[2].Name != "/postern/events" || groups[2].StoredBytes == 0 || groups[2].RetentionInDays != 30 ||
		groups[3].Name != "/postern/sessions" || groups[3].StoredBytes == 0 ||
		groups[4].Name != "secure" || groups[4].KMSKeyID != "alias/postern-logs" || !groups[0].Encrypted || !groups[4].Encrypted {
		t.Errorf("groups: %+v", groups)
	}
	if out := e.mustRun(ctx, "logs", "groups", "set-retention", "/postern/sessions", "90"); out != "Log group /postern/sessions keeps events 90 days.\n" {
		t.Errorf("set-retention: %q", out)
	}
	if _, errOut, code := e.run(ctx, "logs", "groups", "set-retention", "/postern/sessions", "31"); code == 0 || !strings.Contains(errOut, "invalid RetentionDays 31") {
		t.Errorf("a retention CloudWatch does not offer: exit %d, %q", code, errOut)
	}
	e.jsonOut(ctx, &groups, "logs", "groups", "ls", "-o", "json")
	if len(groups) != 5 || groups[3].RetentionInDays != 90 {
		t.Errorf("after set-retention: %+v", groups)
	}
	if out := e.mustRun(ctx, "logs", "streams", "/audit/sessions"); !strings.Contains(out, e.sessions(ctx)[2].ID) {
		t.Errorf("streams:\n%s", out)
	}
	e.mustRun(ctx, "logs", "groups", "delete", "secure")
	_, errOut, code = e.run(ctx, "logs", "streams", "secure")
	if code == 0 || !strings.Contains(errOut, "log group secure does not exist") {
		t.Errorf("streams of a deleted group: exit %d, %q", code, errOut)
	}
}

func hasDelivery(s api.Session, dest, location string) bool {
	for _, l := range s.Logs {
		if l.Destination == dest && l.Status == "Delivered" && l.Location == location {
			return true
		}
	}
	return false
}

// TestCommandEvents streams an interactive bash session: beside Session
// Manager's events, each command the shell ran is an event of its own, with
// its line, exit code, duration and place in the .cast.
func TestCommandEvents(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDevEnv(t, noAWS)
	e.mustRun(ctx, "logs", "groups", "create", "audit")
	p := filepath.Join(t.TempDir(), "prefs.json")
	if err := os.WriteFile(p, []byte(`{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{"cloudWatchLogGroupName":"audit","cloudWatchStreamingEnabled":true}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun(ctx, "prefs", "set", "-f", p)

	pty := ptytest.Start(t, e.connectCmd(hostname(t)))
	id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
	pty.WriteLine(setPrompt)
	pty.Expect(ctx, prompt)
	for _, line := range []string{"ls /", "false", "sh -c 'exit 3'"} {
		pty.WriteLine(line)
		pty.Expect(ctx, prompt)
	}
	pty.WriteLine("exit")
	if code := pty.Wait(ctx); code != 3 {
		t.Fatalf("connect exited %d, want the last command's 3", code)
	}
	e.waitDelivered(ctx, id)

	type cmdEvent struct {
		EventType  string              `json:"eventType"`
		SessionID  string              `json:"sessionId"`
		Command    string              `json:"command"`
		ExitCode   *int                `json:"exitCode"`
		DurationMS *int64              `json:"durationMs"`
		CastOffset *float64            `json:"castOffset"`
		RunAsUser  string              `json:"runAsUser"`
		Target     struct{ ID string } `json:"target"`
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(e.mustRun(ctx, "logs", "events", "audit", id)), "\n") {
		var ev cmdEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		if ev.EventType != "Command" {
			continue
		}
		if ev.SessionID != id || ev.DurationMS == nil || ev.CastOffset == nil || *ev.CastOffset <= 0 || ev.RunAsUser == "" || !strings.HasPrefix(ev.Target.ID, "mi-") {
			t.Errorf("command event lacks who, where or when: %s", line)
		}
		code := "none"
		if ev.ExitCode != nil {
			code = fmt.Sprint(*ev.ExitCode)
		}
		got = append(got, ev.Command+"="+code)
	}
	want := []string{setPrompt + "=0", "ls /=0", "false=1", "sh -c 'exit 3'=3", "exit=none"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("command events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		// Commands twice over were seen once in a loaded CI run: every
		// event with its id and ingestion time says whether they were
		// stored twice, and when.
		t.Logf("all events of the stream:\n%s", e.mustRun(ctx, "logs", "events", "audit", id, "-o", "json"))
		t.Logf("session:\n%s", e.mustRun(ctx, "sessions", "show", id))
	}
	// The marks are gone from the transcript and the cast; the cast marks
	// each command where it starts.
	if log := e.logs(ctx, id, "log"); strings.Contains(log, "133;") {
		t.Errorf("transcript holds shell integration marks:\n%q", log)
	}
	cast := e.logs(ctx, id, "cast")
	_, events, err := recording.ReadCast(strings.NewReader(cast))
	if err != nil {
		t.Fatal(err)
	}
	var markers []string
	for _, ev := range events {
		if ev.Type == "m" {
			markers = append(markers, ev.Data)
		}
		if ev.Type == "o" && strings.Contains(ev.Data, "133;") {
			t.Errorf("cast output holds a mark: %q", ev.Data)
		}
	}
	if got, want := strings.Join(markers, "|"), setPrompt+"|ls /|false|sh -c 'exit 3'|exit"; got != want {
		t.Errorf("cast markers %q, want %q", got, want)
	}
}

// TestLogsTail follows Postern's own log group while a session runs: with
// no preferences at all, what the session prints and the commands it runs
// arrive in the tail as they happen.
func TestLogsTail(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)
	// The group exists once a session has started; until then the tail
	// has nothing to follow.
	e.mustRun(ctx, "exec", hostname(t), "--", "true")
	tail := start(t, e.vars(), "logs", "tail", "-f")

	pty := ptytest.Start(t, e.connectCmd(hostname(t)))
	id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
	pty.WriteLine(setPrompt)
	pty.Expect(ctx, prompt)
	pty.WriteLine("echo tail-$((6*7))")
	pty.Expect(ctx, "tail-42")
	// Output, then the command's own event, each in a line that names
	// the session's stream.
	tail.waitFor(ctx, regexp.MustCompile(` `+id+` \{.*"sessionData":\[[^]]*"tail-42"`))
	tail.waitFor(ctx, regexp.MustCompile(` `+id+` \{.*"eventType":"Command".*"command":"echo tail-\$\(\(6\*7\)\)","exitCode":0`))
	pty.WriteLine("exit")
	pty.Wait(ctx)

	// Without -f: what is there, for one session, then exit.
	out := e.mustRun(ctx, "logs", "tail", "--session", id, "-o", "json")
	var n int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev api.LogEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Stream != id {
			t.Fatalf("tail --session %s -o json: %q (%v)", id, line, err)
		}
		n++
	}
	if n < 2 {
		t.Errorf("tail --session printed %d events:\n%s", n, out)
	}
	_, errOut, code := e.run(ctx, "logs", "tail", "--group", "missing")
	if code == 0 || !strings.Contains(errOut, "log group missing does not exist") {
		t.Errorf("tail of a missing group: exit %d, %q", code, errOut)
	}
}

// TestLogsQuery is the first thing a new user does: run a few commands on
// the local node with postern dev and nothing else, then query them: who
// ran what, with which exit code, when.
func TestLogsQuery(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)
	pty := ptytest.Start(t, e.connectCmd(hostname(t)))
	id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
	pty.WriteLine(setPrompt)
	pty.Expect(ctx, prompt)
	for _, line := range []string{"ls /", "false", "sh -c 'exit 3'"} {
		pty.WriteLine(line)
		pty.Expect(ctx, prompt)
	}
	pty.WriteLine("exit 0")
	pty.Wait(ctx)
	e.waitDelivered(ctx, id)

	var res api.QueryResult
	e.jsonOut(ctx, &res, "logs", "query", `filter eventType = "Command" | fields command, exitCode, userIdentity.arn, @logStream | sort @timestamp asc`, "-o", "json")
	var got []string
	for _, r := range res.Rows {
		var cells []string
		for _, v := range r {
			cells = append(cells, fmt.Sprint(v))
		}
		got = append(got, strings.Join(cells, " "))
	}
	arn := "prn:postern:iam:000000000001:user/admin"
	want := []string{
		setPrompt + " 0 " + arn + " " + id, "ls / 0 " + arn + " " + id, "false 1 " + arn + " " + id,
		"sh -c 'exit 3' 3 " + arn + " " + id, "exit 0 <nil> " + arn + " " + id,
	}
	if strings.Join(res.Columns, ",") != "command,exitCode,userIdentity.arn,@logStream" || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("query gave %v:\n%s\nwant:\n%s", res.Columns, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	out := e.mustRun(ctx, "logs", "query", `filter eventType = "Command" and exitCode != 0 | stats count(*) as failed by userIdentity.arn`, "--since", "1d", "-o", "csv")
	if want := "userIdentity.arn,failed\n" + arn + ",2\n"; out != want {
		t.Errorf("stats query printed %q, want %q", out, want)
	}
	// What a command printed is in Session Manager's events beside it.
	out = e.mustRun(ctx, "logs", "query", `filter @message like "boot" and @logStream = "`+id+`" | stats count(*) as n`, "-o", "csv")
	if out != "n\n1\n" {
		t.Errorf("the output of ls / (boot) is not found: %q", out)
	}

	_, errOut, code := e.run(ctx, "logs", "query", `filter command like /sudo/ | stats count(*) by`)
	if code == 0 || !strings.Contains(errOut, "query:1:") {
		t.Errorf("a malformed query: exit %d, %q; want the column of the error", code, errOut)
	}
}

// TestMetricFilters counts failed commands with a metric filter in
// CloudWatch's pattern syntax, and reads the counter on /metrics with the
// token postern dev keeps for it. A dimension may not read what sessions
// typed, and /metrics answers no one without a token (issue 16, finding 6:
// cmd=$.command put "export DBPASS=..." on an open /metrics).
func TestMetricFilters(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t, "--metrics-listen", "127.0.0.1:0")
	metricsURL := e.dev.waitFor(ctx, regexp.MustCompile(`metrics on (http://\S+)`))[1]
	tokenFile := filepath.Join(e.dir, "data", "metrics-token")
	e.dev.waitFor(ctx, regexp.MustCompile(`Metrics: `+regexp.QuoteMeta(metricsURL)+` with Authorization: Bearer \$\(cat `+regexp.QuoteMeta(tokenFile)+`\)`))
	if fi, err := os.Stat(tokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("metrics token file: %v, %v", fi, err)
	}
	e.mustRun(ctx, "exec", hostname(t), "--", "true") // creates /postern/sessions
	e.mustRun(ctx, "logs", "metric-filters", "put", "--group", "/postern/sessions", "--name", "failed",
		"--pattern", `{ $.eventType = "Command" && $.exitCode != 0 }`, "--metric-namespace", "Postern", "--metric-name", "FailedCommands",
		"--dimensions", "user=$.userIdentity.arn")
	_, errOut, code := e.run(ctx, "logs", "metric-filters", "put", "--group", "/postern/sessions", "--name", "bad",
		"--pattern", `{ $.exitCode != }`, "--metric-namespace", "Postern", "--metric-name", "X")
	if code == 0 || !strings.Contains(errOut, "filter pattern") {
		t.Errorf("a malformed pattern: exit %d, %q", code, errOut)
	}
	// One metric, one set of labels: /metrics would fail for everyone.
	_, errOut, code = e.run(ctx, "logs", "metric-filters", "put", "--group", "/postern/sessions", "--name", "failed-by-node",
		"--pattern", `{ $.exitCode != 0 }`, "--metric-namespace", "Postern", "--metric-name", "FailedCommands", "--dimensions", "node=$.target.id")
	if code == 0 || !strings.Contains(errOut, "already counted by filter failed") {
		t.Errorf("a second filter with other dimensions into the same metric: exit %d, %q", code, errOut)
	}
	_, errOut, code = e.run(ctx, "logs", "metric-filters", "put", "--group", "/postern/sessions", "--name", "commands",
		"--pattern", `{ $.eventType = "Command" }`, "--metric-namespace", "Postern", "--metric-name", "Commands", "--dimensions", "cmd=$.command")
	if code == 0 || !strings.Contains(errOut, "$.command holds what sessions typed or showed") {
		t.Errorf("a dimension reading $.command: exit %d, %q", code, errOut)
	}
	if out := e.mustRun(ctx, "logs", "metric-filters", "ls"); !strings.Contains(out, "Postern/FailedCommands") || strings.Contains(out, "commands") {
		t.Errorf("metric-filters ls:\n%s", out)
	}

	pty := ptytest.Start(t, e.connectCmd(hostname(t)))
	id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
	pty.WriteLine(setPrompt)
	pty.Expect(ctx, prompt)
	for _, line := range []string{"false", "true", "sh -c 'exit 3'", "export DBPASS=S3cr3tPassw0rd"} {
		pty.WriteLine(line)
		pty.Expect(ctx, prompt)
	}
	pty.WriteLine("exit 0")
	pty.Wait(ctx)
	e.waitDelivered(ctx, id)
	want := `postern_logs_Postern_FailedCommands{filter="failed",log_group="/postern/sessions",user="prn:postern:iam:000000000001:user/admin"} 2`
	m := scrape(t, metricsURL, e.metricsToken())
	if !strings.Contains(m, want+"\n") {
		t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "postern_logs_"))
	}
	if strings.Contains(m, "S3cr3t") {
		t.Errorf("metrics show a typed secret:\n%s", grepLines(m, "S3cr3t"))
	}
	// Without a token, or with the CLI's own scoped to something else:
	// nothing.
	other := strings.TrimSpace(e.mustRun(ctx, "tokens", "create", "--name", "reader", "--scope", "QueryLogs"))
	for name, tok := range map[string]string{"no token": "", "a token scoped to QueryLogs": other} {
		status, body := get(t, http.DefaultClient, metricsURL, tok)
		if status == http.StatusOK || strings.Contains(body, "postern_") || !strings.Contains(body, "GetMetrics") {
			t.Errorf("%s: %d %s", name, status, body)
		}
	}
	e.mustRun(ctx, "logs", "metric-filters", "delete", "--group", "/postern/sessions", "--name", "failed")
	if out := e.mustRun(ctx, "logs", "metric-filters", "ls", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("after delete: %s", out)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMetricsTLS: a metrics listener off loopback speaks only TLS, with the
// server's certificate, and wants a token there too.
func TestMetricsTLS(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t, "--metrics-listen", "0.0.0.0:0")
	port := e.dev.waitFor(ctx, regexp.MustCompile(`metrics on https://\S+:(\d+)/metrics`))[1]
	u := "https://127.0.0.1:" + port + "/metrics"
	if resp, err := http.Get(strings.Replace(u, "https://", "http://", 1)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP to %s: %s", u, resp.Status)
		}
	}
	cfg, err := client.LoadConfig(e.home)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(cfg.CA))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if status, body := get(t, hc, u, ""); status != http.StatusUnauthorized || strings.Contains(body, "postern_outbox_bytes") {
		t.Errorf("GET %s without a token: %d\n%.300s", u, status, body)
	}
	if status, body := get(t, hc, u, e.metricsToken()); status != http.StatusOK || !strings.Contains(body, "postern_outbox_bytes") {
		t.Errorf("GET %s: %d\n%.300s", u, status, body)
	}
}
