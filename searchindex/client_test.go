package searchindex

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/postern/postern/firehose"
	"github.com/postern/postern/searchindex/searchtest"
)

// These tests run the official client (opensearch-go) against
// searchtest's cluster: no OpenSearch server can be installed where the
// tests run, so searchtest speaks the bulk and index template APIs as
// OpenSearch documents them.

const account = "111111111111"

var day1 = time.Date(2026, 12, 6, 23, 59, 59, 0, time.UTC)

// record is one subscription message of events (message, at).
func record(t *testing.T, stream string, firstID int, at time.Time, msgs ...string) []byte {
	t.Helper()
	p := firehose.Payload{MessageType: firehose.DataMessage, Owner: account, LogGroup: "/postern/sessions", LogStream: stream, SubscriptionFilters: []string{"search"}}
	for i, m := range msgs {
		p.LogEvents = append(p.LogEvents, firehose.LogEvent{ID: fmt.Sprint(firstID + i), Timestamp: at.UnixMilli(), Message: m})
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sessionEvent(session, data string) string {
	return fmt.Sprintf(`{"eventVersion":"1.0","eventTime":"2026-12-06T23:59:59.5Z","awsRegion":"local","target":{"id":"mi-0123456789abcdef0"},"userIdentity":{"arn":"prn:postern:iam:111111111111:user/alice"},"runAsUser":"alice","sessionId":%q,"sessionData":[%q]}`, session, data)
}

func commandEvent(session, command string, exit string) string {
	return fmt.Sprintf(`{"eventVersion":"1.0","eventType":"Command","eventTime":"2026-12-07T00:00:00.25Z","awsRegion":"local","target":{"id":"mi-0123456789abcdef0"},"userIdentity":{"arn":"prn:postern:iam:111111111111:user/alice"},"runAsUser":"alice","sessionId":%q,"command":%q,"exitCode":%s,"durationMs":12,"castOffset":1.5}`, session, command, exit)
}

// cluster starts a cluster wanting a password, and a destination for it.
func cluster(t *testing.T) (*searchtest.Server, Destination) {
	t.Helper()
	srv := searchtest.Start(t)
	srv.BasicAuth("postern", "s3cret")
	return srv, Destination{Endpoint: srv.URL, IndexPrefix: "postern-sessions", Username: "postern", Password: "s3cret", CAPEM: string(srv.CAPEM())}
}

// noSleep records the waits between attempts instead of waiting.
type noSleep struct{ waits []time.Duration }

func (n *noSleep) sleep(_ context.Context, d time.Duration) error {
	n.waits = append(n.waits, d)
	return nil
}

func testClient(t *testing.T) (*Client, *noSleep) {
	ns := &noSleep{}
	c := &Client{Sleep: ns.sleep}
	t.Cleanup(c.Close)
	return c, ns
}

// TestSendIndexesEvents: each event is one document in the index of its
// day, its JSON message's fields mapped by the template (eventTime a
// date, sessionId a keyword, exitCode an integer, ...), with the
// subscription's fields; a message that is not JSON goes in @message.
// Sent again, the documents are replaced, not added.
func TestSendIndexesEvents(t *testing.T) {
	ctx := context.Background()
	srv, d := cluster(t)
	c, _ := testClient(t)
	if err := c.Check(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.Template("postern-sessions"); !ok {
		t.Fatal("Check did not put the index template")
	}
	recs := [][]byte{
		record(t, "alice-1", 1, day1, sessionEvent("alice-1", "$ echo hi\r\nhi\r\n"), "plain text, not JSON"),
		record(t, "alice-1", 3, day1.Add(time.Second), commandEvent("alice-1", "echo hi", "0")),
	}
	n, err := c.Send(ctx, d, recs)
	if n != 2 || err != nil {
		t.Fatalf("Send = %d, %v", n, err)
	}
	if got := srv.Indices(); !slices.Equal(got, []string{"postern-sessions-2026.12.06", "postern-sessions-2026.12.07"}) {
		t.Fatalf("indices %v", got)
	}
	day1Docs, day2Docs := srv.Docs("postern-sessions-2026.12.06"), srv.Docs("postern-sessions-2026.12.07")
	if len(day1Docs) != 2 || len(day2Docs) != 1 {
		t.Fatalf("documents: %d on the 6th, %d on the 7th", len(day1Docs), len(day2Docs))
	}
	sess := day1Docs[DocumentID(account, "/postern/sessions", "1")]
	if sess == nil || sess["sessionId"] != "alice-1" || sess["@timestamp"] != "2026-12-06T23:59:59.000Z" || sess["@id"] != "1" ||
		sess["@owner"] != account || sess["@log_group"] != "/postern/sessions" || sess["@log_stream"] != "alice-1" ||
		sess["target"].(map[string]any)["id"] != "mi-0123456789abcdef0" || sess["@message"] != nil {
		t.Errorf("the session event's document: %v", sess)
	}
	plain := day1Docs[DocumentID(account, "/postern/sessions", "2")]
	if plain == nil || plain["@message"] != "plain text, not JSON" || plain["@timestamp"] != "2026-12-06T23:59:59.000Z" {
		t.Errorf("the plain event's document: %v", plain)
	}
	cmd := day2Docs[DocumentID(account, "/postern/sessions", "3")]
	if cmd == nil || cmd["command"] != "echo hi" || fmt.Sprint(cmd["exitCode"]) != "0" || fmt.Sprint(cmd["durationMs"]) != "12" || cmd["eventType"] != "Command" {
		t.Errorf("the command event's document: %v", cmd)
	}
	m := srv.Mapping("postern-sessions-2026.12.07")
	for field, typ := range map[string]string{"eventTime": "date", "@timestamp": "date", "sessionId": "keyword", "target.id": "keyword",
		"userIdentity.arn": "keyword", "runAsUser": "keyword", "eventType": "keyword", "command": "text", "sessionData": "text",
		"exitCode": "integer", "durationMs": "long", "@log_group": "keyword"} {
		if m[field] != typ {
			t.Errorf("field %s is mapped as %q, want %q", field, m[field], typ)
		}
	}

	// Again: the same ids, the same indices, nothing added.
	if n, err := c.Send(ctx, d, recs); n != 2 || err != nil {
		t.Fatalf("Send again = %d, %v", n, err)
	}
	if a, b := len(srv.Docs("postern-sessions-2026.12.06")), len(srv.Docs("postern-sessions-2026.12.07")); a != 2 || b != 1 {
		t.Errorf("after sending again: %d and %d documents", a, b)
	}
	if v := srv.Version("postern-sessions-2026.12.07", DocumentID(account, "/postern/sessions", "3")); v != 2 {
		t.Errorf("version %d after two sends, want 2", v)
	}
}

// TestItemRetries: documents the cluster fails for now (429, 503) are sent
// again alone, with back-off, and the rest are not sent twice; one that
// keeps failing stops Send at its record, with the records before it
// delivered.
func TestItemRetries(t *testing.T) {
	ctx := context.Background()
	srv, d := cluster(t)
	c, ns := testClient(t)
	busyID := DocumentID(account, "/postern/sessions", "3")
	srv.Fail(func(it searchtest.Item) int {
		if it.ID == busyID && it.Attempt <= 2 {
			return []int{429, 503}[it.Attempt-1]
		}
		return 0
	})
	recs := [][]byte{
		record(t, "a", 1, day1, "one", "two"),
		record(t, "b", 3, day1, "three"),
		record(t, "c", 4, day1, "four"),
	}
	if n, err := c.Send(ctx, d, recs); n != 3 || err != nil {
		t.Fatalf("Send = %d, %v", n, err)
	}
	if len(ns.waits) != 2 || ns.waits[1] != 2*ns.waits[0] {
		t.Errorf("waits %v: want two, doubling", ns.waits)
	}
	ix := "postern-sessions-2026.12.06"
	if len(srv.Docs(ix)) != 4 || srv.Version(ix, DocumentID(account, "/postern/sessions", "1")) != 1 || srv.Version(ix, busyID) != 1 {
		t.Errorf("documents %d; versions: one %d, three %d", len(srv.Docs(ix)), srv.Version(ix, DocumentID(account, "/postern/sessions", "1")), srv.Version(ix, busyID))
	}

	// One that stays busy.
	stuck := DocumentID(account, "/postern/sessions", "13")
	srv.Fail(func(it searchtest.Item) int {
		if it.ID == stuck {
			return 429
		}
		return 0
	})
	recs = [][]byte{record(t, "a", 11, day1, "eleven"), record(t, "b", 12, day1, "twelve", "thirteen"), record(t, "c", 14, day1, "fourteen")}
	n, err := c.Send(ctx, d, recs)
	if n != 1 || err == nil || !strings.Contains(err.Error(), "429 es_rejected_execution_exception") || !strings.Contains(err.Error(), "after 4 attempts") {
		t.Fatalf("Send with a document that stays busy = %d, %v", n, err)
	}
	var rf *firehose.Refusal
	if errors.As(err, &rf) {
		t.Errorf("a busy document is not refused for good: %v", err)
	}
}

// TestRefusedItems: documents refused for good (a 400, or a value the
// mapping cannot take) come back as a Refusal's rows, each with its
// document, id and index, and the rest are indexed; rows of a record not
// yet delivered are left for when it is sent again.
func TestRefusedItems(t *testing.T) {
	ctx := context.Background()
	srv, d := cluster(t)
	c, _ := testClient(t)
	chosen := DocumentID(account, "/postern/sessions", "2")
	stuck := DocumentID(account, "/postern/sessions", "5")
	srv.Fail(func(it searchtest.Item) int {
		switch it.ID {
		case chosen:
			return 400
		case stuck:
			return 503
		}
		return 0
	})
	recs := [][]byte{
		record(t, "a", 1, day1, "one", "two"),
		record(t, "b", 3, day1, commandEvent("b", "false", `"not a number"`)),
		record(t, "c", 4, day1, `{"exitCode":"x"}`, "five"),
	}
	n, err := c.Send(ctx, d, recs)
	var rf *firehose.Refusal
	if n != 2 || !errors.As(err, &rf) {
		t.Fatalf("Send = %d, %v", n, err)
	}
	if rf.Err == nil || !strings.Contains(rf.Err.Error(), "503") {
		t.Errorf("the refusal's error %v: want the 503 that stopped it", rf.Err)
	}
	if len(rf.Rows) != 2 {
		t.Fatalf("rows %+v: want the chosen 400 and the unmappable exitCode, not record 2's", rf.Rows)
	}
	r0, r1 := rf.Rows[0], rf.Rows[1]
	if r0.Record != 0 || r0.DocumentID != chosen || r0.Index != "postern-sessions-2026.12.06" || r0.Code != "OpenSearch.mapper_parsing_exception" || !strings.Contains(string(r0.Data), `"@message":"two"`) {
		t.Errorf("row 0: %+v %s", r0, r0.Data)
	}
	if r1.Record != 1 || !strings.Contains(r1.Message, "failed to parse field [exitCode] of type [integer]") || !strings.Contains(string(r1.Data), `"command":"false"`) {
		t.Errorf("row 1: %+v %s", r1, r1.Data)
	}
	if docs := srv.Docs("postern-sessions-2026.12.06"); docs[DocumentID(account, "/postern/sessions", "1")] == nil || docs[chosen] != nil {
		t.Errorf("documents: %v", docs)
	}
}

// TestCheck: a destination is checked as a stream is made: its fields,
// then the cluster itself, each failure naming the field at fault.
func TestCheck(t *testing.T) {
	ctx := context.Background()
	srv, d := cluster(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "https://" + closed.Addr().String()
	closed.Close()
	c, _ := testClient(t)
	for _, tc := range []struct {
		change func(*Destination)
		want   string
	}{
		{func(d *Destination) { d.Endpoint = "http://example.com:9200" }, `clusterEndpoint "http://example.com:9200": an https:// URL`},
		{func(d *Destination) { d.Endpoint = "https://u:p@example.com" }, "clusterEndpoint: no user or password in the URL"},
		{func(d *Destination) { d.IndexPrefix = "Postern" }, `indexName "Postern": 1 to 80 lowercase letters`},
		{func(d *Destination) { d.IndexPrefix = "_hidden" }, `indexName "_hidden"`},
		{func(d *Destination) { d.Rotation = "OneWeek" }, `indexRotationPeriod "OneWeek"`},
		{func(d *Destination) { d.Password = "" }, "username and password: both or neither"},
		{func(d *Destination) { d.APIKey = "abc" }, "apiKey: either an API key or a username and password"},
		{func(d *Destination) { d.CAPEM = "nope" }, "caPem: no PEM certificate"},
		{func(d *Destination) { d.Endpoint = closedURL }, "clusterEndpoint " + closedURL + " does not answer"},
		{func(d *Destination) { d.Password = "wrong" }, "username and password: the cluster refused them"},
		{func(d *Destination) { d.Username, d.Password = "", "" }, "the cluster wants credentials"},
		{func(d *Destination) { d.CAPEM = "" }, "its certificate is not trusted (give its CA as caPem)"},
		{func(d *Destination) { d.CAPEM = otherCA(t) }, "caPem: the certificate of " + srv.URL + " is not signed by the CA given"},
	} {
		bad := d
		tc.change(&bad)
		if err := c.Check(ctx, bad); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%+v) = %v, want %q", bad, err, tc.want)
		}
	}
	if _, ok := srv.Template("postern-sessions"); ok {
		t.Errorf("a failed check put the template")
	}

	// An API key instead.
	srv.APIKeyAuth("a2V5aWQ6c2VjcmV0")
	withKey := d
	withKey.Username, withKey.Password, withKey.APIKey = "", "", "a2V5aWQ6c2VjcmV0"
	if err := c.Check(ctx, withKey); err != nil {
		t.Errorf("with an API key: %v", err)
	}
	withKey.APIKey = "d3Jvbmc6a2V5"
	if err := c.Check(ctx, withKey); err == nil || !strings.Contains(err.Error(), "apiKey: the cluster refused the API key") {
		t.Errorf("with a wrong API key: %v", err)
	}
}

// TestTemplate: the index template maps the event fields for the
// stream's indices; one that went is put back before the next delivery,
// and one that is there is left as it is.
func TestTemplate(t *testing.T) {
	ctx := context.Background()
	srv, d := cluster(t)
	now := day1
	c, _ := testClient(t)
	c.Now = func() time.Time { return now }
	if _, err := c.Send(ctx, d, [][]byte{record(t, "a", 1, day1, "one")}); err != nil {
		t.Fatal(err)
	}
	body, ok := srv.Template("postern-sessions")
	if !ok {
		t.Fatal("the first delivery did not put the missing template")
	}
	var tmpl struct {
		IndexPatterns []string `json:"index_patterns"`
		Priority      int
	}
	if err := json.Unmarshal(body, &tmpl); err != nil || !slices.Equal(tmpl.IndexPatterns, []string{"postern-sessions-*"}) || tmpl.Priority <= 100 {
		t.Errorf("template %s (%v)", body, err)
	}

	// Replaced by someone: left as it is.
	srv.DeleteTemplate("postern-sessions")
	now = now.Add(2 * time.Hour)
	custom := `{"index_patterns":["postern-sessions-*"],"priority":150,"template":{"mappings":{"properties":{"sessionId":{"type":"text"}}}}}`
	if err := putTemplate(ctx, srv, d, custom); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, d, [][]byte{record(t, "a", 2, day1, "two")}); err != nil {
		t.Fatal(err)
	}
	if body, _ := srv.Template("postern-sessions"); string(body) != custom {
		t.Errorf("a template that was there was replaced: %s", body)
	}

	// Gone: put back.
	srv.DeleteTemplate("postern-sessions")
	now = now.Add(2 * time.Hour)
	if _, err := c.Send(ctx, d, [][]byte{record(t, "a", 3, day1, "three")}); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.Template("postern-sessions"); !ok {
		t.Error("a template that went was not put back")
	}
}

// putTemplate puts a template as an administrator would, through the
// official client.
func putTemplate(ctx context.Context, srv *searchtest.Server, d Destination, body string) error {
	c := &Client{}
	defer c.Close()
	oc, err := c.client(d)
	if err != nil {
		return err
	}
	_, err = oc.IndexTemplate.Create(ctx, opensearchapi.IndexTemplateCreateReq{IndexTemplate: d.IndexPrefix, Body: strings.NewReader(body)})
	return err
}

// TestNoRotation: without rotation every event goes to one index, named
// by the prefix, and the template's pattern is that name.
func TestNoRotation(t *testing.T) {
	ctx := context.Background()
	srv, d := cluster(t)
	d.Rotation = NoRotation
	c, _ := testClient(t)
	if _, err := c.Send(ctx, d, [][]byte{record(t, "a", 1, day1, "one"), record(t, "a", 2, day1.Add(48*time.Hour), "two")}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Indices(); !slices.Equal(got, []string{"postern-sessions"}) || len(srv.Docs("postern-sessions")) != 2 {
		t.Errorf("indices %v", got)
	}
	body, _ := srv.Template("postern-sessions")
	if !strings.Contains(string(body), `"index_patterns":["postern-sessions"]`) {
		t.Errorf("template %s", body)
	}
	for rot, want := range map[string]string{OneHour: "p-2026.12.06.23", OneDay: "p-2026.12.06", OneMonth: "p-2026.12", "": "p-2026.12.06"} {
		if got := (Destination{IndexPrefix: "p", Rotation: rot}).Index(day1); got != want {
			t.Errorf("rotation %q: index %q, want %q", rot, got, want)
		}
	}
}

// FuzzDocument: any message makes a JSON object holding the
// subscription's fields; a message that is not a JSON object is kept
// whole in @message.
func FuzzDocument(f *testing.F) {
	for _, m := range []string{sessionEvent("s", "x"), commandEvent("s", "ls", "1"), "plain", "", "null", "[1,2]", `"str"`, "12", `{"@id":"x","a":{"b":[1,2]}}`, "{\"a\":\"\xff\"}", "\xff\xfe", `{"a":1}{"b":2}`} {
		f.Add(m, int64(1765065599000))
	}
	p := &firehose.Payload{Owner: account, LogGroup: "/g", LogStream: "s"}
	f.Fuzz(func(t *testing.T, msg string, ts int64) {
		doc := Document(p, firehose.LogEvent{ID: "7", Timestamp: ts, Message: msg})
		var m map[string]any
		if err := json.Unmarshal(doc, &m); err != nil || m == nil {
			t.Fatalf("Document(%q) = %s: not a JSON object (%v)", msg, doc, err)
		}
		if m["@id"] != "7" || m["@owner"] != account || m["@log_group"] != "/g" || m["@log_stream"] != "s" || m["@timestamp"] == nil {
			t.Fatalf("Document(%q) = %s: the subscription's fields", msg, doc)
		}
		var obj map[string]json.RawMessage
		isObject := json.Unmarshal([]byte(msg), &obj) == nil && obj != nil && utf8.ValidString(msg)
		if !isObject && utf8.ValidString(msg) && m["@message"] != msg {
			t.Fatalf("Document(%q) = %s: the message is not in @message", msg, doc)
		}
	})
}

// otherCA is a CA certificate (PEM) that signed nothing the cluster has.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
