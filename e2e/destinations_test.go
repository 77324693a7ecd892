package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/postern/postern/api"
	"github.com/postern/postern/cwlogs/cwlogstest"
	"github.com/postern/postern/ptytest"
	"github.com/postern/postern/s3logs/miniotest"
)

// destinations are a real MinIO and the CloudWatch Logs fake (no runnable
// CloudWatch Logs exists here), set up as Session Manager's example
// preferences expect: an encrypted bucket session-logs-000000000001 and a
// log group ssm-secure-consolelog-group with a KMS key, plus an
// unencrypted bucket and log group for the refusals.
type destinations struct {
	minio *miniotest.Server
	cw    *cwlogstest.Server
}

const (
	exampleBucket = "session-logs-000000000001"
	exampleGroup  = "ssm-secure-consolelog-group"
	plainBucket   = "plain-logs"
	plainGroup    = "plain-group"
)

func startDestinations(t *testing.T) *destinations {
	t.Helper()
	d := &destinations{minio: miniotest.Start(t), cw: cwlogstest.NewServer()}
	t.Cleanup(d.cw.Close)
	d.minio.CreateBucket(t, exampleBucket, true)
	d.minio.CreateBucket(t, plainBucket, false)
	logs := cloudwatchlogs.New(cloudwatchlogs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(d.cw.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, g := range []struct{ name, key string }{
		{exampleGroup, "arn:aws:kms:us-east-1:000000000001:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		{plainGroup, ""},
	} {
		in := &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(g.name)}
		if g.key != "" {
			in.KmsKeyId = aws.String(g.key)
		}
		if _, err := logs.CreateLogGroup(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// env is what postern dev needs to find them through the AWS SDK's
// standard configuration chain.
func (d *destinations) env() []string {
	return []string{
		"AWS_ENDPOINT_URL_S3=" + d.minio.URL(), "AWS_ENDPOINT_URL_LOGS=" + d.cw.URL(),
		"AWS_ACCESS_KEY_ID=" + d.minio.AccessKey(), "AWS_SECRET_ACCESS_KEY=" + d.minio.SecretKey(),
		"AWS_REGION=" + d.minio.Region(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
}

// waitDelivered waits until every destination of a session has its
// artifacts, and returns the session.
func (e *env) waitDelivered(ctx context.Context, id string) api.Session {
	e.t.Helper()
	for {
		s, err := e.api().Session(ctx, id)
		if err != nil {
			e.t.Fatal(err)
		}
		done := !isActive(s)
		for _, l := range s.Logs {
			if l.Destination != "local" && l.Status != "Delivered" {
				done = false
			}
		}
		if done {
			if s.EndedAt != nil {
				// For the record (no threshold: shared machines are
				// noisy); the target is 5 s.
				e.t.Logf("session %s: every artifact delivered %v after its end (polled every 100ms)", id, time.Since(*s.EndedAt).Round(time.Millisecond))
			}
			return s
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("deliveries of %s not done: %+v", id, s.Logs)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkDelivered checks that a finished session's artifacts reached the
// example destinations: the transcript and cast in the bucket under the
// example's prefix, byte-identical to what Postern serves, and the
// streamed events in the log group in Session Manager's schema.
func (d *destinations) checkDelivered(ctx context.Context, t *testing.T, e *env, id, runAs, mustSay string) {
	t.Helper()
	s := e.waitDelivered(ctx, id)
	want := map[string]string{
		"s3/log":            "s3://" + exampleBucket + "/ssm/" + id + ".log",
		"s3/cast":           "s3://" + exampleBucket + "/ssm/" + id + ".cast",
		"cloudwatch/events": "",
	}
	for _, l := range s.Logs {
		k := l.Destination + "/" + l.Format
		if loc, ok := want[k]; ok {
			if loc != "" && l.Location != loc {
				t.Errorf("%s delivered to %s, want %s", k, l.Location, loc)
			}
			delete(want, k)
		}
	}
	if len(want) != 0 {
		t.Errorf("no delivery of %v in %+v", want, s.Logs)
	}
	for _, format := range []string{"log", "cast"} {
		got, hdr := d.minio.Object(t, exampleBucket, "ssm/"+id+"."+format)
		local := e.mustRun(ctx, "logs", "get", id, "--format", format)
		if string(got) != local {
			t.Errorf("s3 %s (%d bytes) differs from the built-in copy (%d bytes)", format, len(got), len(local))
		}
		if hdr["x-amz-server-side-encryption"] == "" {
			t.Errorf("s3 %s is not encrypted: %v", format, hdr)
		}
		if format == "log" && !strings.Contains(string(got), mustSay) {
			t.Errorf("transcript in s3 lacks %q:\n%s", mustSay, got)
		}
	}
	events := d.cw.Events(exampleGroup, id)
	var said bool
	commands := 0
	for _, ev := range events {
		var m struct {
			EventType    string `json:"eventType"` // Postern's command events only
			Command      string `json:"command"`
			EventVersion string `json:"eventVersion"`
			EventTime    string `json:"eventTime"`
			Target       struct {
				ID string `json:"id"`
			} `json:"target"`
			UserIdentity struct {
				ARN string `json:"arn"`
			} `json:"userIdentity"`
			RunAsUser   string   `json:"runAsUser"`
			SessionID   string   `json:"sessionId"`
			SessionData []string `json:"sessionData"`
		}
		if err := json.Unmarshal([]byte(ev.Message), &m); err != nil {
			t.Fatalf("event %q: %v", ev.Message, err)
		}
		if m.EventVersion != "1.0" || m.SessionID != id || m.Target.ID != s.Target || m.RunAsUser != runAs ||
			!strings.HasSuffix(m.UserIdentity.ARN, ":user/admin") {
			t.Errorf("event without Session Manager's fields: %s", ev.Message)
		}
		if m.EventType == "Command" {
			// Postern's own, beside Session Manager's (an integrated
			// shell's commands).
			if m.Command == "" || len(m.SessionData) > 0 {
				t.Errorf("command event: %s", ev.Message)
			}
			commands++
		} else if m.EventType != "" || len(m.SessionData) == 0 {
			t.Errorf("event not in Session Manager's schema: %s", ev.Message)
		}
		if _, err := time.Parse(time.RFC3339, m.EventTime); err != nil {
			t.Errorf("eventTime %q: %v", m.EventTime, err)
		}
		for _, line := range m.SessionData {
			said = said || strings.Contains(line, mustSay)
		}
	}
	if !said {
		t.Errorf("no streamed event says %q (%d events)", mustSay, len(events))
	}
	if commands == 0 {
		t.Errorf("no command event among the %d streamed", len(events))
	}
}

// TestDestinationRefusals checks that preferences demanding what a
// destination cannot give refuse the session before anything starts, with
// Session Manager's wording where it has one.
func TestDestinationRefusals(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	d := startDestinations(t)
	e := startDevEnv(t, d.env())
	for _, tt := range []struct {
		name, inputs, want string
	}{
		{"unencrypted bucket", `"s3BucketName": "` + plainBucket + `", "s3EncryptionEnabled": true`,
			"encryption is not set up on the selected S3 bucket " + plainBucket},
		{"unencrypted log group", `"cloudWatchLogGroupName": "` + plainGroup + `", "cloudWatchEncryptionEnabled": true`,
			"encryption is not set up on the selected CloudWatch Logs log group " + plainGroup},
		{"missing bucket", `"s3BucketName": "no-such-bucket-42"`, "no-such-bucket-42"},
		{"missing log group", `"cloudWatchLogGroupName": "no-such-group"`, "no-such-group"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prefs := filepath.Join(t.TempDir(), "prefs.json")
			doc := fmt.Sprintf(`{"schemaVersion": "1.0", "sessionType": "Standard_Stream", "inputs": {%s}}`, tt.inputs)
			if err := os.WriteFile(prefs, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			e.mustRun(ctx, "prefs", "set", "-f", prefs)
			before := len(e.sessions(ctx))
			_, stderr, code := e.run(ctx, "exec", hostname(t), "--", "echo", "should-not-run")
			if code != 1 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exec = exit %d, stderr %q; want exit 1 saying %q", code, stderr, tt.want)
			}
			if after := len(e.sessions(ctx)); after != before {
				t.Errorf("a refused session was recorded (%d sessions, was %d)", after, before)
			}
		})
	}
}

// TestDeliveryOutage stops MinIO while sessions end: their artifacts wait,
// failing with the reason, and arrive once it is back.
func TestDeliveryOutage(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	d := startDestinations(t)
	// An outbox bound of one byte: any recording owed to a destination
	// fills it.
	e := startDevEnv(t, d.env(), "--metrics-listen", "127.0.0.1:0", "--outbox-max-bytes", "1")
	metricsURL := e.dev.waitFor(ctx, regexp.MustCompile(`metrics on (http://\S+)`))[1]
	prefs := filepath.Join(t.TempDir(), "prefs.json")
	doc := `{"schemaVersion": "1.0", "sessionType": "Standard_Stream", "inputs": {"s3BucketName": "` + exampleBucket + `", "s3KeyPrefix": "outage", "s3EncryptionEnabled": true}}`
	if err := os.WriteFile(prefs, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun(ctx, "prefs", "set", "-f", prefs)
	first := e.mustRun(ctx, "exec", hostname(t), "--", "echo", "before-the-outage")
	if !strings.Contains(first, "before-the-outage") {
		t.Fatalf("exec printed %q", first)
	}
	ss := e.sessions(ctx)
	if len(ss) != 1 {
		t.Fatalf("sessions: %+v", ss)
	}
	e.waitDelivered(ctx, ss[0].ID) // the outbox is empty again
	// The session started while MinIO was up; it goes down before the
	// session ends.
	pty := ptytest.Start(t, e.connectCmd(hostname(t)))
	id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
	d.minio.Stop()
	pty.WriteLine("echo during-$((6*7))-outage; exit 0")
	if code := pty.Wait(ctx); code != 0 {
		t.Fatalf("connect exited %d", code)
	}
	for {
		s, err := e.api().Session(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		failing := 0
		for _, l := range s.Logs {
			if l.Destination == "s3" && l.Status == "Failing" && l.Error != "" && l.NextAttempt != nil {
				failing++
			}
		}
		if failing == 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("deliveries did not report the outage: %+v", s.Logs)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// The outbox holds the session's recording: at its bound, sessions
	// that name a destination are refused, with an alarm.
	out, errOut, code := e.run(ctx, "exec", hostname(t), "--", "echo", "refused")
	if code == 0 || !strings.Contains(errOut, "delivery outbox is full") || strings.Contains(out, "refused") {
		t.Errorf("exec with a full outbox: exit %d, stdout %q, stderr %q; want a refusal", code, out, errOut)
	}
	e.dev.waitFor(ctx, regexp.MustCompile(`ALARM: the delivery outbox is full`))
	if m := scrape(t, metricsURL, e.metricsToken()); !strings.Contains(m, "postern_outbox_full 1\n") || !strings.Contains(m, "postern_outbox_limit_bytes 1\n") {
		t.Errorf("metrics do not show the full outbox:\n%s", m)
	}

	if err := d.minio.Restart(); err != nil {
		t.Fatal(err)
	}
	e.waitDelivered(ctx, id)
	if out := e.mustRun(ctx, "exec", hostname(t), "--", "echo", "admitted-again"); !strings.Contains(out, "admitted-again") {
		t.Errorf("exec once the outbox emptied printed %q", out)
	}
	e.waitDelivered(ctx, e.sessions(ctx)[0].ID)
	got, _ := d.minio.Object(t, exampleBucket, "outage/"+id+".log")
	if !strings.Contains(string(got), "during-42-outage") {
		t.Errorf("transcript delivered after the outage:\n%s", got)
	}
	// The metrics tell the story: failures during the outage, every
	// artifact delivered in the end, nothing owed.
	m := scrape(t, metricsURL, e.metricsToken())
	for _, want := range []string{
		`postern_deliveries_total{artifact="log",destination="s3",result="delivered"} 3`,
		`postern_deliveries_total{artifact="cast",destination="s3",result="delivered"} 3`,
		`postern_delivery_backlog 0`,
		`postern_outbox_bytes 0`,
		`postern_outbox_full 0`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !regexp.MustCompile(`postern_deliveries_total\{artifact="log",destination="s3",result="failed"\} [1-9]`).MatchString(m) {
		t.Errorf("metrics show no failed delivery:\n%s", m)
	}
}

// scrape reads the metrics at url as a scraper would, with token (the
// one postern dev keeps: metricsToken).
func scrape(t *testing.T, url, token string) string {
	t.Helper()
	status, body := get(t, http.DefaultClient, url, token)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, status, body)
	}
	return body
}

// get GETs url with hc and token as a bearer token (none if empty).
func get(t *testing.T, hc *http.Client, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// metricsToken is the metrics token postern dev keeps for the local
// administrator.
func (e *env) metricsToken() string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, "data", "metrics-token"))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}
