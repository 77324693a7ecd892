package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/ptytest"
	"github.com/postern/postern/s3logs/miniotest"
	"github.com/postern/postern/searchindex/searchtest"
)

// searchDoc is a document found in the test cluster.
type searchDoc struct {
	index, id string
	source    map[string]any
	version   int
}

// searchDocs are every document of the cluster's indices.
func searchDocs(srv *searchtest.Server) []searchDoc {
	var out []searchDoc
	for _, ix := range srv.Indices() {
		for id, src := range srv.Docs(ix) {
			out = append(out, searchDoc{index: ix, id: id, source: src, version: srv.Version(ix, id)})
		}
	}
	return out
}

// TestOpenSearchDeliveryStream streams the session log group to an
// OpenSearch cluster: bad settings, a cluster that does not answer, a
// wrong password and an untrusted certificate are refused at creation,
// naming the field; the stream's creation puts the index template; each
// event of a session is one document in postern-sessions-YYYY.MM.DD with
// Session Manager's fields mapped (sessionId a keyword, exitCode an
// integer ...); a lost answer and a busy document are sent again without
// duplicating anything, and a document the cluster refuses for good goes
// to the S3 backup while the rest go on.
//
// No OpenSearch server can be installed here: the cluster is searchtest's,
// which speaks the bulk and index template APIs as documented; the client
// is the official one.
func TestOpenSearchDeliveryStream(t *testing.T) {
	ctx := testCtx(t)
	srv := searchtest.Start(t)
	srv.BasicAuth("postern", "s3cret-pw")
	minio := miniotest.Start(t)
	minio.CreateBucket(t, "search-backup", false)
	dir := t.TempDir()
	caFile, pwFile, wrongPw := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "pw"), filepath.Join(dir, "wrong")
	os.WriteFile(caFile, srv.CAPEM(), 0o600)
	os.WriteFile(pwFile, []byte("s3cret-pw\n"), 0o600)
	os.WriteFile(wrongPw, []byte("nope"), 0o600)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedURL := "https://" + closed.Addr().String()
	closed.Close()

	e := startDevEnv(t, []string{
		"AWS_ENDPOINT_URL_S3=" + minio.URL(), "AWS_ACCESS_KEY_ID=" + minio.AccessKey(), "AWS_SECRET_ACCESS_KEY=" + minio.SecretKey(),
		"AWS_REGION=" + minio.Region(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	})
	node := hostname(t)
	create := func(endpoint string, args ...string) []string {
		return append([]string{"delivery-streams", "create", "search", "--destination", "OpenSearch", "--opensearch-endpoint", endpoint,
			"--index-prefix", "postern-sessions", "--buffer-interval", "0"}, args...)
	}
	e.mustFail(create(srv.URL, "--index-prefix", "Sessions", "--username", "postern", "--password-file", pwFile, "--ca-file", caFile), `indexName "Sessions"`)
	e.mustFail(create("http://"+strings.TrimPrefix(srv.URL, "https://"), "--username", "postern", "--password-file", pwFile), "an https:// URL")
	e.mustFail(create(closedURL, "--username", "postern", "--password-file", pwFile, "--ca-file", caFile), "clusterEndpoint "+closedURL+" does not answer")
	e.mustFail(create(srv.URL, "--username", "postern", "--password-file", wrongPw, "--ca-file", caFile), "username and password: the cluster refused them")
	e.mustFail(create(srv.URL, "--username", "postern", "--password-file", pwFile), "its certificate is not trusted (give its CA as caPem)")
	e.mustFail(create(srv.URL, "--username", "postern", "--password-file", pwFile, "--ca-file", caFile, "--bucket", "search-backup"), "bucket and error prefix: both or neither")
	if _, ok := srv.Template("postern-sessions"); ok {
		t.Fatal("a stream that was refused put its index template")
	}
	out := e.mustRun(ctx, create(srv.URL, "--username", "postern", "--password-file", pwFile, "--ca-file", caFile,
		"--bucket", "search-backup", "--error-prefix", "failed/")...)
	if !strings.Contains(out, "indexes into "+srv.URL+", postern-sessions-* (Basic)") {
		t.Errorf("create printed %q", out)
	}
	if _, ok := srv.Template("postern-sessions"); !ok {
		t.Error("creating the stream did not put its index template")
	}
	var ds api.DeliveryStream
	e.jsonOut(ctx, &ds, "delivery-streams", "describe", "search")
	if o := ds.OpenSearch; ds.Destination != "OpenSearch" || o == nil || o.Password != "" || o.Username != "postern" || o.Authentication != "Basic" ||
		o.ClusterEndpoint != srv.URL || o.IndexName != "postern-sessions" || o.IndexRotationPeriod != "OneDay" {
		t.Errorf("describe: %+v %+v (the password is never shown)", ds, ds.OpenSearch)
	}

	e.mustRun(ctx, "exec", node, "--", "echo", "Zq8Before")
	e.waitDelivered(ctx, e.sessions(ctx)[0].ID)
	e.mustRun(ctx, "logs", "subscription-filters", "put", "--group", "/postern/sessions", "--name", "search", "--destination", ds.ARN)

	// The first bulk request's answer is lost (the cluster indexed its
	// documents and answered 503): the client sends it again. The command
	// event of "echo Zq8Busy" is refused for now once (429); that of
	// "echo Zq8Refused" for good (400).
	srv.LoseAnswers(1)
	srv.Fail(func(it searchtest.Item) int {
		switch it.Source["command"] {
		case "echo Zq8Busy":
			if it.Attempt == 1 {
				return 429
			}
		case "echo Zq8Refused":
			return 400
		}
		return 0
	})
	pty := ptytest.Start(t, e.connectCmd(node))
	id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
	pty.WriteLine(setPrompt)
	pty.Expect(ctx, prompt)
	for _, line := range []string{"echo Zq8Busy", "false", "echo Zq8Refused"} {
		pty.WriteLine(line)
		pty.Expect(ctx, prompt)
	}
	pty.WriteLine("exit 0")
	pty.Wait(ctx)
	e.waitDelivered(ctx, id)

	// Every event of the session but the refused one is one document.
	out = e.mustRun(ctx, "logs", "tail", "--session", id, "-o", "json")
	events := strings.Count(strings.TrimSpace(out), "\n") + 1
	var docs []searchDoc
	waitFor(ctx, t, "the session's documents", func() bool {
		docs = nil
		for _, d := range searchDocs(srv) {
			if d.source["@log_stream"] == id {
				docs = append(docs, d)
			}
		}
		return len(docs) >= events-1
	})
	if len(docs) != events-1 {
		t.Errorf("%d documents for the session's %d events, one refused", len(docs), events)
	}
	commands := map[string][]searchDoc{}
	retried := 0
	dayIndex := regexp.MustCompile(`^postern-sessions-\d{4}\.\d\d\.\d\d$`)
	for _, d := range docs {
		ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(d.source["@timestamp"]))
		if err != nil || !dayIndex.MatchString(d.index) || d.index != "postern-sessions-"+ts.UTC().Format("2006.01.02") {
			t.Errorf("document %s at %v (%v) is in index %s, not the one of its day", d.id, d.source["@timestamp"], err, d.index)
		}
		if d.source["sessionId"] != id || d.source["@owner"] != "000000000001" || d.source["@log_group"] != "/postern/sessions" {
			t.Errorf("document %s: %v", d.id, d.source)
		}
		if c, ok := d.source["command"].(string); ok {
			commands[c] = append(commands[c], d)
		}
		if d.version > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Errorf("no document was sent twice: the lost answer was not retried")
	}
	for _, c := range []string{setPrompt, "echo Zq8Busy", "false", "exit 0"} {
		if len(commands[c]) != 1 {
			t.Errorf("%d documents for the command %q, want 1", len(commands[c]), c)
		}
	}
	if len(commands["echo Zq8Refused"]) != 0 {
		t.Errorf("the refused document was indexed")
	}
	if f := commands["false"]; len(f) == 1 && (fmt.Sprint(f[0].source["exitCode"]) != "1" || f[0].source["userIdentity"].(map[string]any)["arn"] != "prn:postern:iam:000000000001:user/admin") {
		t.Errorf("the command event of false: %v", f[0].source)
	}
	if len(docs) > 0 {
		m := srv.Mapping(docs[0].index)
		for field, typ := range map[string]string{"eventTime": "date", "@timestamp": "date", "sessionId": "keyword", "target.id": "keyword",
			"userIdentity.arn": "keyword", "runAsUser": "keyword", "eventType": "keyword", "command": "text", "sessionData": "text",
			"exitCode": "integer", "durationMs": "long"} {
			if m[field] != typ {
				t.Errorf("field %s is mapped as %q, want %q", field, m[field], typ)
			}
		}
	}

	// The refused document is in the backup, in Firehose's error records.
	var keys []string
	waitFor(ctx, t, "the refused document in the backup", func() bool {
		keys = minio.Keys(t, "search-backup", "failed/delivery-failed/")
		return len(keys) > 0
	})
	body, _ := minio.Object(t, "search-backup", keys[0])
	var rec struct {
		ErrorCode, ErrorMessage, RawData string
		EsDocumentID, EsIndexName        string
	}
	if err := json.Unmarshal(body, &rec); err != nil {
		t.Fatalf("backup object %s: %v\n%s", keys[0], err, body)
	}
	raw, _ := base64.StdEncoding.DecodeString(rec.RawData)
	if rec.ErrorCode != "OpenSearch.mapper_parsing_exception" || !strings.Contains(rec.ErrorMessage, "400") || !dayIndex.MatchString(rec.EsIndexName) ||
		rec.EsDocumentID == "" || !strings.Contains(string(raw), `"command":"echo Zq8Refused"`) {
		t.Errorf("backup record %s: %+v\n%s", keys[0], rec, raw)
	}

	// The stream went on past it.
	e.mustRun(ctx, "exec", node, "--", "echo", "Zq8After")
	waitFor(ctx, t, "a later session's documents", func() bool {
		for _, d := range searchDocs(srv) {
			if strings.Contains(fmt.Sprint(d.source["sessionData"]), "Zq8After") {
				return true
			}
		}
		return false
	})
	for _, d := range searchDocs(srv) {
		if strings.Contains(fmt.Sprint(d.source), "Zq8Before") {
			t.Errorf("an event from before the filter was indexed: %v", d.source)
		}
	}
	e.jsonOut(ctx, &ds, "delivery-streams", "describe", "search")
	if ds.Status == nil || ds.Status.ErrorObjects < 1 || ds.Status.LastError != "" {
		t.Errorf("describe: %+v", ds.Status)
	}
}
