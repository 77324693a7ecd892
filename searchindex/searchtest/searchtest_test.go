package searchtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// post sends a request to the cluster as a raw HTTP client and decodes
// its JSON answer.
func post(t *testing.T, s *Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s answered %d %q: not JSON", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

// itemsOf are a bulk answer's items, as "action status result-or-error".
func itemsOf(ans map[string]any) []string {
	var out []string
	items, _ := ans["items"].([]any)
	for _, it := range items {
		for action, v := range it.(map[string]any) {
			r := v.(map[string]any)
			what := fmt.Sprint(r["result"])
			if e, ok := r["error"].(map[string]any); ok {
				what = fmt.Sprint(e["type"])
			}
			out = append(out, fmt.Sprintf("%s %v %s", action, r["status"], what))
		}
	}
	return out
}

// TestBulkAPI: the bulk API as documented: actions and sources, an answer
// per item in order with "errors" set when one failed, a whole request
// refused when it is malformed, and documents checked against the
// mappings their index took from its template.
func TestBulkAPI(t *testing.T) {
	s := Start(t)
	if code, _ := post(t, s, "PUT", "/_index_template/t", `{"index_patterns":["logs-*"],"priority":5,"template":{"mappings":{"properties":{"n":{"type":"integer"},"when":{"type":"date"},"who":{"properties":{"id":{"type":"keyword"}}}}}}}`); code != 200 {
		t.Fatalf("template: %d", code)
	}
	if code, ans := post(t, s, "PUT", "/_index_template/u", `{"index_patterns":["logs-a*"],"priority":5}`); code != 400 || !strings.Contains(fmt.Sprint(ans), "same priority") {
		t.Errorf("an overlapping template of the same priority: %d %v", code, ans)
	}
	if code, _ := post(t, s, "PUT", "/_index_template/v", `{"index_patterns":["x"],"template":{"mappings":{"properties":{"a":{"type":"nope"}}}}}`); code != 400 {
		t.Errorf("a template with an unknown type: %d", code)
	}
	body := `{"index":{"_index":"logs-1","_id":"a"}}
{"n":1,"when":"2026-12-06T10:00:00.123Z","who":{"id":"x"}}
{"create":{"_index":"logs-1","_id":"a"}}
{"n":2}
{"index":{"_index":"logs-1","_id":"b"}}
{"n":"many"}
{"index":{"_index":"logs-1","_id":"c"}}
{"when":"yesterday"}
{"index":{"_index":"logs-1","_id":"d"}}
{"who":"x"}
{"index":{"_index":"logs-1","_id":"e"}}
[1]

{"delete":{"_index":"logs-1","_id":"zz"}}
{"index":{"_id":"f"}}
{"free":"text","n":"7"}
`
	code, ans := post(t, s, "POST", "/logs-2/_bulk", body)
	if code != 200 || ans["errors"] != true {
		t.Fatalf("bulk: %d %v", code, ans)
	}
	want := "index 201 created|create 409 version_conflict_engine_exception|index 400 mapper_parsing_exception|index 400 mapper_parsing_exception|index 400 mapper_parsing_exception|index 400 mapper_parsing_exception|delete 404 not_found|index 201 created"
	if got := strings.Join(itemsOf(ans), "|"); got != want {
		t.Errorf("items:\n%s\nwant\n%s", got, want)
	}
	if len(s.Docs("logs-1")) != 1 || len(s.Docs("logs-2")) != 1 || s.Mapping("logs-2")["free"] != "text" || s.Mapping("logs-2")["n"] != "integer" {
		t.Errorf("documents %v %v; mapping %v", s.Docs("logs-1"), s.Docs("logs-2"), s.Mapping("logs-2"))
	}
	code, ans = post(t, s, "GET", "/logs-1/_doc/a", "")
	if code != 200 || ans["found"] != true || ans["_version"] != float64(1) {
		t.Errorf("get: %d %v", code, ans)
	}

	for _, bad := range []string{"", `{"index":{"_index":"x"}}` + "\n{}", `{"index":{"_index":"x"}}` + "\n", `{"upsert":{}}` + "\n{}\n", `{"index":{"_index":"x","colour":"red"}}` + "\n{}\n", `{"index":{}}` + "\n{}\n", "nope\n"} {
		if code, ans := post(t, s, "POST", "/_bulk", bad); code != 400 || ans["error"] == nil {
			t.Errorf("bulk %q: %d %v", bad, code, ans)
		}
	}

	// Chosen failures, and a lost answer.
	s.Fail(func(it Item) int {
		if it.ID == "g" && it.Attempt == 1 {
			return 429
		}
		return 0
	})
	code, ans = post(t, s, "POST", "/_bulk", `{"index":{"_index":"logs-3","_id":"g"}}`+"\n{}\n")
	if got := strings.Join(itemsOf(ans), "|"); code != 200 || got != "index 429 es_rejected_execution_exception" {
		t.Errorf("a chosen 429: %d %s", code, got)
	}
	s.LoseAnswers(1)
	if code, _ := post(t, s, "POST", "/_bulk", `{"index":{"_index":"logs-3","_id":"g"}}`+"\n{}\n"); code != 503 || s.Version("logs-3", "g") != 1 {
		t.Errorf("a lost answer: %d, version %d", code, s.Version("logs-3", "g"))
	}

	// Authentication.
	s.BasicAuth("u", "p")
	if code, ans := post(t, s, "GET", "/", ""); code != 401 || !strings.Contains(fmt.Sprint(ans), "security_exception") {
		t.Errorf("without credentials: %d %v", code, ans)
	}
	if code, _ := post(t, s, "POST", "/_bulk", strings.Repeat("x", MaxBody+1)); code != 401 {
		t.Errorf("a large body without credentials: %d", code)
	}
}

// TestBodyBound: a body past MaxBody is refused with 413, not read whole.
func TestBodyBound(t *testing.T) {
	s := Start(t)
	code, ans := post(t, s, "POST", "/_bulk", strings.Repeat("x", MaxBody+1))
	if code != 413 || ans["error"] == nil {
		t.Errorf("%d %v", code, ans)
	}
}

// FuzzParseBulk: any body is either refused as a whole or read as
// actions, each naming an index; written out again, they read the same.
func FuzzParseBulk(f *testing.F) {
	for _, seed := range []string{
		"{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"x\":1}\n",
		"{\"create\":{\"_index\":\"a\"}}\n{}\n{\"delete\":{\"_index\":\"a\",\"_id\":\"1\"}}\n",
		"{\"index\":{}}\n{}\n",
		"\n\n{\"index\":{\"_index\":\"A\"}}\r\n[1]\r\n",
		"{\"index\":{\"_index\":\"a\"}}\n",
		"{\"update\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"doc\":{}}\n",
		"{}\n",
		"nope",
	} {
		f.Add([]byte(seed), "def")
	}
	f.Fuzz(func(t *testing.T, body []byte, def string) {
		ops, err := parseBulk(body, def)
		if err != nil {
			if _, ok := err.(*bulkError); !ok {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if len(ops) == 0 {
			t.Fatal("no error and no actions")
		}
		var again bytes.Buffer
		for _, o := range ops {
			if o.index == "" {
				t.Fatalf("an action with no index: %+v", o)
			}
			if !utf8.ValidString(o.index) || !utf8.ValidString(o.id) {
				return // JSON cannot write them out as they are
			}
			meta := map[string]string{"_index": o.index}
			if o.id != "" {
				meta["_id"] = o.id
			}
			line, _ := json.Marshal(map[string]any{o.action: meta})
			again.Write(line)
			again.WriteByte('\n')
			if o.action != "delete" {
				again.Write(o.source)
				again.WriteByte('\n')
			}
		}
		ops2, err := parseBulk(again.Bytes(), "")
		if err != nil || len(ops2) != len(ops) {
			t.Fatalf("written out again %q: %v, %d actions for %d", again.Bytes(), err, len(ops2), len(ops))
		}
		for i := range ops {
			a, b := ops[i], ops2[i]
			if a.action != b.action || a.index != b.index || a.id != b.id || !bytes.Equal(a.source, b.source) || (a.err == nil) != (b.err == nil) {
				t.Fatalf("action %d: %+v, then %+v", i, a, b)
			}
		}
	})
}
