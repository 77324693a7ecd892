package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
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

// gunzipLines reads a gzip file's lines, each one CloudWatch Logs
// subscription message.
func gunzipLines(t *testing.T, raw []byte) []firehose.Payload {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not gzip: %v (%q)", err, raw[:min(len(raw), 40)])
	}
	var out []firehose.Payload
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 8<<20)
	for sc.Scan() {
		var p firehose.Payload
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// messages are the payloads' events' messages, joined.
func messages(ps []firehose.Payload) string {
	var b strings.Builder
	for _, p := range ps {
		for _, e := range p.LogEvents {
			b.WriteString(e.Message)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// streamedObjects downloads every object under s3://bucket/prefix and
// returns their keys and their payloads (open turns a downloaded file into
// gzip bytes: identity, or a decryption).
func streamedObjects(t *testing.T, m *miniotest.Server, bucket, prefix string, open func(path string) []byte) (keys []string, ps []firehose.Payload) {
	t.Helper()
	dir := t.TempDir()
	awsS3(t, m, "cp", "--recursive", "--quiet", "s3://"+bucket+"/"+prefix, dir)
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		keys = append(keys, prefix+filepath.ToSlash(rel))
		ps = append(ps, gunzipLines(t, open(p))...)
		return nil
	})
	return keys, ps
}

func readFile(t *testing.T) func(string) []byte {
	return func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// waitFor polls cond until it holds.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out: %s", what)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// TestDeliveryStreams ships the session log group through a subscription
// filter and a delivery stream into MinIO, read back with the AWS CLI:
// gzip objects of CloudWatch Logs subscription messages under the hour's
// partition, holding what arrived after the filter was made and not what
// came before; bad settings are refused naming the field; with MinIO
// stopped the events wait, counted as backlog, and arrive once it is back;
// a stream a filter sends to cannot be deleted.
func TestDeliveryStreams(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	if _, err := exec.LookPath("aws"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the AWS CLI is missing (scripts/install-test-deps)")
		}
		t.Skip("no AWS CLI")
	}
	minio := miniotest.Start(t)
	minio.CreateBucket(t, "streams", false)
	e := startDevEnv(t, []string{
		"AWS_ENDPOINT_URL_S3=" + minio.URL(), "AWS_ACCESS_KEY_ID=" + minio.AccessKey(), "AWS_SECRET_ACCESS_KEY=" + minio.SecretKey(),
		"AWS_REGION=" + minio.Region(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	})
	node := hostname(t)

	e.mustFail([]string{"delivery-streams", "create", "s", "--bucket", "streams", "--buffer-size", "200"}, "buffer size 209715200 bytes: from 1 to 128 MiB")
	e.mustFail([]string{"delivery-streams", "create", "s", "--bucket", "streams", "--compression", "ZIP"}, `compression "ZIP"`)
	e.mustFail([]string{"delivery-streams", "create", "s", "--bucket", "streams", "--prefix", "a/!{nope:x}/"}, "prefix: !{nope:x}")
	e.mustFail([]string{"delivery-streams", "create", "s", "--bucket", "no-such-bucket"}, "bucket no-such-bucket cannot take the stream's objects")
	out := e.mustRun(ctx, "delivery-streams", "create", "sessions", "--bucket", "streams", "--prefix", "shipped/", "--compression", "GZIP", "--buffer-interval", "0")
	arn := regexp.MustCompile(`prn:postern:firehose:000000000001:deliverystream/sessions`).FindString(out)
	if arn == "" {
		t.Fatalf("create printed %q", out)
	}

	// The session log group exists once a session has run; what it
	// held before the filter is not sent.
	e.mustRun(ctx, "exec", node, "--", "echo", "Zq9Before")
	e.waitDelivered(ctx, e.sessions(ctx)[0].ID)
	e.mustFail([]string{"logs", "subscription-filters", "put", "--group", "/postern/sessions", "--name", "ship", "--destination", "prn:postern:firehose:000000000002:deliverystream/sessions"}, "sends only to its own account's")
	e.mustFail([]string{"logs", "subscription-filters", "put", "--group", "/postern/sessions", "--name", "ship", "--destination", arn, "--pattern", `{ $.x = `}, "filterPattern")
	e.mustRun(ctx, "logs", "subscription-filters", "put", "--group", "/postern/sessions", "--name", "ship", "--destination", arn)
	e.mustRun(ctx, "exec", node, "--", "echo", "Zq9Shipped")

	var keys []string
	var got string
	waitFor(ctx, t, "the session's events in the bucket", func() bool {
		var ps []firehose.Payload
		keys, ps = streamedObjects(t, minio, "streams", "shipped/", readFile(t))
		got = messages(ps)
		for _, p := range ps {
			if p.MessageType != "DATA_MESSAGE" || p.Owner != "000000000001" || p.LogGroup != "/postern/sessions" || len(p.SubscriptionFilters) != 1 || p.SubscriptionFilters[0] != "ship" {
				t.Fatalf("payload header %+v", p)
			}
		}
		return strings.Contains(got, "Zq9Shipped")
	})
	if strings.Contains(got, "Zq9Before") {
		t.Errorf("events from before the filter were shipped:\n%s", got)
	}
	hour := regexp.MustCompile(`^shipped/\d{4}/\d\d/\d\d/\d\d/sessions-1-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9a-f]{32}\.gz$`)
	for _, k := range keys {
		if !hour.MatchString(k) {
			t.Errorf("object key %q is not PREFIX/YYYY/MM/DD/HH/NAME-1-YYYY-MM-DD-HH-MM-SS-RANDOM.gz", k)
		}
	}
	var ds api.DeliveryStream
	e.jsonOut(ctx, &ds, "delivery-streams", "describe", "sessions")
	if ds.Status == nil || ds.Status.Objects < 1 || ds.Status.Events < 1 || len(ds.Status.Sources) != 1 || ds.Status.Sources[0] != "/postern/sessions:ship" {
		t.Errorf("describe: %+v %+v", ds, ds.Status)
	}

	// A stream that seals its objects with a key of the account: the
	// objects are envelopes, and postern logs decrypt opens them.
	e.mustFail([]string{"delivery-streams", "create", "sealed", "--bucket", "streams", "--kms-key", "alias/none"}, "kmsKeyArn:")
	keyOut := e.mustRun(ctx, "keys", "create", "--description", "streams")
	keyARN := regexp.MustCompile(`Created key \S+ \((prn:\S+)\)`).FindStringSubmatch(keyOut)
	if keyARN == nil {
		t.Fatalf("keys create printed %q", keyOut)
	}
	out = e.mustRun(ctx, "delivery-streams", "create", "sealed", "--bucket", "streams", "--prefix", "sealed/", "--compression", "GZIP", "--buffer-interval", "0", "--kms-key", keyARN[1])
	e.mustRun(ctx, "logs", "subscription-filters", "put", "--group", "/postern/sessions", "--name", "sealed", "--destination", strings.Replace(arn, "/sessions", "/sealed", 1),
		"--pattern", `"Zq9Sealed"`)
	e.mustFail([]string{"logs", "subscription-filters", "put", "--group", "/postern/sessions", "--name", "third", "--destination", arn}, "at most 2")
	e.mustRun(ctx, "exec", node, "--", "echo", "Zq9Sealed")
	waitFor(ctx, t, "the sealed stream's object", func() bool {
		_, ps := streamedObjects(t, minio, "streams", "sealed/", func(p string) []byte {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(raw, []byte(envelope.Magic)) {
				t.Fatalf("the sealed stream's object %s is not sealed: %q", p, raw[:min(len(raw), 40)])
			}
			plain, errOut, code := e.run(ctx, "logs", "decrypt", p)
			if code != 0 {
				t.Fatalf("postern logs decrypt %s: %s", p, errOut)
			}
			return []byte(plain)
		})
		got := messages(ps)
		if strings.Contains(got, "Zq9Shipped") {
			t.Fatalf("the sealed stream's pattern let through events it does not match:\n%s", got)
		}
		return strings.Contains(got, "Zq9Sealed")
	})

	// MinIO down: the events wait, counted, and arrive once it is back.
	minio.Stop()
	e.mustRun(ctx, "exec", node, "--", "echo", "Zq9Outage")
	waitFor(ctx, t, "the stream to report its failure", func() bool {
		e.jsonOut(ctx, &ds, "delivery-streams", "describe", "sessions")
		return ds.Status != nil && ds.Status.LastError != "" && ds.Status.FailingSince != nil
	})
	var fs []api.SubscriptionFilter
	e.jsonOut(ctx, &fs, "logs", "subscription-filters", "ls")
	if len(fs) != 2 || fs[1].Name != "ship" || fs[1].Backlog == 0 || fs[1].OldestPending == nil {
		t.Errorf("the filter's backlog while MinIO is down: %+v", fs)
	}
	if err := minio.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "the events held during the outage in the bucket", func() bool {
		_, ps := streamedObjects(t, minio, "streams", "shipped/", readFile(t))
		return strings.Contains(messages(ps), "Zq9Outage")
	})
	waitFor(ctx, t, "the backlog to drain", func() bool {
		e.jsonOut(ctx, &fs, "logs", "subscription-filters", "ls", "--group", "/postern/sessions")
		return len(fs) == 2 && fs[0].Backlog == 0 && fs[1].Backlog == 0
	})

	e.mustFail([]string{"delivery-streams", "delete", "sessions"}, "is the destination of subscription filter ship")
	e.mustRun(ctx, "logs", "subscription-filters", "delete", "--group", "/postern/sessions", "--name", "ship")
	e.mustRun(ctx, "delivery-streams", "delete", "sessions")
	e.mustRun(ctx, "logs", "subscription-filters", "delete", "--group", "/postern/sessions", "--name", "sealed")
	e.mustRun(ctx, "delivery-streams", "delete", "sealed")
	var left []api.DeliveryStream
	e.jsonOut(ctx, &left, "delivery-streams", "ls")
	if len(left) != 0 {
		t.Errorf("streams after delete: %+v", left)
	}
}
