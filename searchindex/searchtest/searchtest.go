// Package searchtest is an OpenSearch cluster for tests, in memory, over
// TLS. No OpenSearch (or Elasticsearch) server can be installed where
// Postern's tests run (they are JVM applications from no package list the
// tests may use), so this speaks, as OpenSearch documents them, the parts
// of the REST API that delivery streams use, well enough for the official
// Go client: GET / (the cluster's description), composable index templates
// (PUT, GET, HEAD, DELETE /_index_template/NAME), the bulk API (POST
// /_bulk and /INDEX/_bulk: NDJSON action and source lines, an answer per
// item with its status and error), and GET /INDEX/_doc/ID, behind basic
// or API key authentication.
//
// Like OpenSearch, an index is made when a document first goes to it,
// with the mappings of the index template of highest priority whose
// patterns match its name; fields no mapping names are mapped from their
// first value (dynamic mapping). A value that does not fit its field's
// type (a word for an integer, an object for a keyword) refuses the
// document: 400 mapper_parsing_exception. Tests choose items to fail
// (Fail: 429, 400, 503 ...) and answers to lose (LoseAnswers: the bulk
// is indexed, then answered 503), to drive retries and dead letters.
package searchtest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MaxBody bounds a request's body, as http.max_content_length does
// (OpenSearch's default is 100 MiB): past it, 413.
const MaxBody = 16 << 20

// Item is a bulk item as Fail sees it.
type Item struct {
	Action, Index, ID string
	Source            map[string]any
	// Attempt counts the times this document id was sent to this index,
	// this one included.
	Attempt int
}

// Server is the cluster.
type Server struct {
	srv *httptest.Server
	// URL is its https:// address.
	URL string

	mu sync.Mutex // guards everything below
	// Username and Password, when set, are wanted as basic
	// authentication; APIKey as Authorization: ApiKey APIKEY. Either
	// set one passes.
	username, password, apiKey string
	templates                  map[string]*template
	indices                    map[string]*index
	fail                       func(Item) int
	lose                       int
	attempts                   map[string]int // by index and id
	requests                   []string
	seq                        int64
}

type template struct {
	body     json.RawMessage
	patterns []string
	priority int64
	fields   map[string]string // mapped fields' types, by dotted path
}

type index struct {
	fields map[string]string
	docs   map[string]*doc
}

type doc struct {
	source  json.RawMessage
	version int
}

// Start starts a cluster, stopped when the test ends.
func Start(t testing.TB) *Server {
	s := &Server{templates: map[string]*template{}, indices: map[string]*index{}, attempts: map[string]int{}}
	s.srv = httptest.NewTLSServer(s)
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// CAPEM is the certificate the cluster's TLS is checked against (PEM).
func (s *Server) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// Close stops the cluster: it answers nothing more.
func (s *Server) Close() { s.srv.Close() }

// BasicAuth makes the cluster want these credentials.
func (s *Server) BasicAuth(username, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.username, s.password = username, password
}

// APIKeyAuth makes the cluster want this API key.
func (s *Server) APIKeyAuth(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiKey = key
}

// Fail makes f answer each bulk item before it is indexed: 0 indexes it;
// a status fails it (429 es_rejected_execution_exception, 400
// mapper_parsing_exception, 5xx ...). Nil: none is failed.
func (s *Server) Fail(f func(Item) int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = f
}

// LoseAnswers makes the next n bulk requests index their documents and
// then answer 503, as a cluster whose answer is lost: the client sends
// them again.
func (s *Server) LoseAnswers(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lose = n
}

// Requests are the requests taken, as "METHOD PATH".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Indices are the indices' names, sorted.
func (s *Server) Indices() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.indices))
}

// Docs are an index's documents' sources, by id.
func (s *Server) Docs(name string) map[string]map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]any{}
	if ix := s.indices[name]; ix != nil {
		for id, d := range ix.docs {
			var m map[string]any
			_ = json.Unmarshal(d.source, &m)
			out[id] = m
		}
	}
	return out
}

// Version is a document's version: how often it was indexed (0: never).
func (s *Server) Version(name, id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix := s.indices[name]; ix != nil && ix.docs[id] != nil {
		return ix.docs[id].version
	}
	return 0
}

// Mapping is an index's fields' types, by dotted path.
func (s *Server) Mapping(name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix := s.indices[name]; ix != nil {
		return maps.Clone(ix.fields)
	}
	return nil
}

// Template is an index template's body as it was put.
func (s *Server) Template(name string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.templates[name]; t != nil {
		return slices.Clone(t.body), true
	}
	return nil, false
}

// DeleteTemplate deletes an index template, as DELETE
// /_index_template/NAME does.
func (s *Server) DeleteTemplate(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.templates, name)
}

// apiError is an error as OpenSearch answers it.
type apiError struct {
	Type     string    `json:"type"`
	Reason   string    `json:"reason"`
	CausedBy *apiError `json:"caused_by,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, typ, reason string) {
	e := apiError{Type: typ, Reason: reason}
	writeJSON(w, status, map[string]any{"error": map[string]any{"root_cause": []apiError{e}, "type": typ, "reason": reason}, "status": status})
}

// authorized checks a request's credentials, under s.mu.
func (s *Server) authorized(r *http.Request) bool {
	if s.username == "" && s.apiKey == "" {
		return true
	}
	if u, p, ok := r.BasicAuth(); ok && s.username != "" && u == s.username && p == s.password {
		return true
	}
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "ApiKey ")
	return ok && s.apiKey != "" && key == s.apiKey
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	ok := s.authorized(r)
	s.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="OpenSearch Security"`)
		writeError(w, http.StatusUnauthorized, "security_exception", "missing or bad authentication credentials for REST request ["+r.URL.Path+"]")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "content_too_long_exception", "request body is larger than "+strconv.Itoa(MaxBody)+" bytes")
		return
	}
	parts := strings.Split(strings.Trim(path.Clean("/"+r.URL.Path), "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		writeJSON(w, http.StatusOK, map[string]any{
			"name": "searchtest", "cluster_name": "searchtest", "cluster_uuid": "searchtest-0",
			"version": map[string]any{"distribution": "opensearch", "number": "2.19.0", "build_type": "tar",
				"lucene_version": "9.12.1", "minimum_wire_compatibility_version": "7.10.0", "minimum_index_compatibility_version": "7.0.0"},
			"tagline": "The OpenSearch Project: https://opensearch.org/",
		})
	case len(parts) == 2 && parts[0] == "_index_template":
		s.indexTemplate(w, r, parts[1], body)
	case parts[len(parts)-1] == "_bulk" && len(parts) <= 2 && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		def := ""
		if len(parts) == 2 {
			def = parts[0]
		}
		s.bulk(w, body, def)
	case len(parts) == 3 && parts[1] == "_doc" && r.Method == http.MethodGet:
		s.getDoc(w, parts[0], parts[2])
	default:
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "no handler found for uri [" + r.URL.Path + "] and method [" + r.Method + "]"})
	}
}

func (s *Server) getDoc(w http.ResponseWriter, name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.indices[name]
	if ix == nil {
		writeError(w, http.StatusNotFound, "index_not_found_exception", "no such index ["+name+"]")
		return
	}
	d := ix.docs[id]
	if d == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"_index": name, "_id": id, "found": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"_index": name, "_id": id, "_version": d.version, "found": true, "_source": d.source})
}

// templateBody is what a composable index template says, of what this
// server uses.
type templateBody struct {
	IndexPatterns json.RawMessage `json:"index_patterns"`
	Priority      int64           `json:"priority"`
	Template      struct {
		Mappings struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"mappings"`
	} `json:"template"`
}

func (s *Server) indexTemplate(w http.ResponseWriter, r *http.Request, name string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.templates[name]
	switch r.Method {
	case http.MethodHead:
		if t == nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		if t == nil {
			writeError(w, http.StatusNotFound, "resource_not_found_exception", "index template matching ["+name+"] not found")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"index_templates": []any{map[string]any{"name": name, "index_template": t.body}}})
	case http.MethodDelete:
		if t == nil {
			writeError(w, http.StatusNotFound, "index_template_missing_exception", "index_template ["+name+"] missing")
			return
		}
		delete(s.templates, name)
		writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
	case http.MethodPut, http.MethodPost:
		nt, err := parseTemplate(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "mapper_parsing_exception", err.Error())
			return
		}
		for other, ot := range s.templates {
			if other != name && ot.priority == nt.priority && overlap(ot.patterns, nt.patterns) {
				writeError(w, http.StatusBadRequest, "illegal_argument_exception", fmt.Sprintf(
					"index template [%s] has index patterns %v matching patterns from existing templates [%s] with patterns (%s => %v) that have the same priority [%d]",
					name, nt.patterns, other, other, ot.patterns, nt.priority))
				return
			}
		}
		s.templates[name] = nt
		writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "Incorrect HTTP method for uri [" + r.URL.Path + "] and method [" + r.Method + "]", "status": 405})
	}
}

// parseTemplate reads a composable index template.
func parseTemplate(body []byte) (*template, error) {
	var tb templateBody
	if err := json.Unmarshal(body, &tb); err != nil {
		return nil, fmt.Errorf("failed to parse the index template: %v", err)
	}
	var patterns []string
	if err := json.Unmarshal(tb.IndexPatterns, &patterns); err != nil {
		var one string
		if json.Unmarshal(tb.IndexPatterns, &one) != nil {
			return nil, fmt.Errorf("index_patterns: a string or an array of strings is required")
		}
		patterns = []string{one}
	}
	if len(patterns) == 0 || slices.Contains(patterns, "") {
		return nil, fmt.Errorf("index_patterns: at least one, none empty")
	}
	fields := map[string]string{}
	if err := mapProperties(fields, "", tb.Template.Mappings.Properties); err != nil {
		return nil, err
	}
	return &template{body: slices.Clone(body), patterns: patterns, priority: tb.Priority, fields: fields}, nil
}

// known are the field types this server checks values against.
var known = map[string]bool{"keyword": true, "text": true, "date": true, "integer": true, "long": true,
	"double": true, "float": true, "boolean": true, "object": true}

// mapProperties flattens a mapping's properties into fields, by dotted
// path.
func mapProperties(fields map[string]string, prefix string, props map[string]json.RawMessage) error {
	for name, raw := range props {
		var p struct {
			Type       string                     `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("field [%s%s]: %v", prefix, name, err)
		}
		if p.Type == "" {
			p.Type = "object"
		}
		if !known[p.Type] {
			return fmt.Errorf("No handler for type [%s] declared on field [%s%s]", p.Type, prefix, name)
		}
		fields[prefix+name] = p.Type
		if p.Type == "object" {
			if err := mapProperties(fields, prefix+name+".", p.Properties); err != nil {
				return err
			}
		}
	}
	return nil
}

// match reports whether an index name matches a pattern with '*'s.
func match(pattern, name string) bool {
	ok, err := path.Match(strings.ReplaceAll(pattern, "?", `\?`), name)
	return err == nil && ok
}

// overlap reports whether two templates' patterns could match one index,
// as OpenSearch decides it: one pattern matches the other.
func overlap(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if match(x, y) || match(y, x) {
				return true
			}
		}
	}
	return false
}

// op is one parsed bulk action.
type op struct {
	action, index, id string
	source            []byte
	// err, when set, fails the item alone (its source is not a JSON
	// object, say), as OpenSearch does.
	err *itemErr
}

type itemErr struct {
	status int
	apiError
}

// bulkError is a bulk request refused as a whole.
type bulkError struct{ typ, reason string }

func (e *bulkError) Error() string { return e.typ + ": " + e.reason }

// parseBulk reads a bulk request's NDJSON: an action and metadata line
// ({"index":{"_index":..,"_id":..}}, create, delete; update is not
// served), then for index and create the document's source on the next
// line. def is the index of a request to /INDEX/_bulk.
func parseBulk(body []byte, def string) ([]op, error) {
	if len(body) == 0 {
		return nil, &bulkError{"action_request_validation_exception", "Validation Failed: 1: no requests added;"}
	}
	if body[len(body)-1] != '\n' {
		return nil, &bulkError{"illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"}
	}
	lines := bytes.Split(body[:len(body)-1], []byte{'\n'})
	var ops []op
	for i := 0; i < len(lines); i++ {
		line := bytes.TrimSuffix(lines[i], []byte{'\r'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue // OpenSearch skips empty lines between actions
		}
		var action map[string]json.RawMessage
		if err := json.Unmarshal(line, &action); err != nil || len(action) != 1 {
			return nil, &bulkError{"illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected a JSON object with one action", i+1)}
		}
		var o op
		var meta json.RawMessage
		for k, v := range action { // its one key
			o.action, meta = k, v
		}
		switch o.action {
		case "index", "create", "delete":
		case "update":
			return nil, &bulkError{"illegal_argument_exception", fmt.Sprintf("Action/metadata line [%d]: update is not served by searchtest", i+1)}
		default:
			return nil, &bulkError{"illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected one of [create, delete, index, update] but found [%s]", i+1, o.action)}
		}
		var params map[string]json.RawMessage
		if err := json.Unmarshal(meta, &params); err != nil || params == nil {
			return nil, &bulkError{"illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected START_OBJECT", i+1)}
		}
		for k, v := range params {
			var str string
			switch k {
			case "_index", "_id":
				if err := json.Unmarshal(v, &str); err != nil {
					return nil, &bulkError{"illegal_argument_exception", fmt.Sprintf("Action/metadata line [%d]: [%s] must be a string", i+1, k)}
				}
				if k == "_index" {
					o.index = str
				} else {
					o.id = str
				}
			case "routing", "version", "version_type", "if_seq_no", "if_primary_term", "pipeline", "require_alias":
			default:
				return nil, &bulkError{"illegal_argument_exception", fmt.Sprintf("Action/metadata line [%d] contains an unknown parameter [%s]", i+1, k)}
			}
		}
		if o.index == "" {
			o.index = def
		}
		if o.index == "" {
			return nil, &bulkError{"action_request_validation_exception", fmt.Sprintf("Validation Failed: 1: index is missing (line [%d]);", i+1)}
		}
		if o.action == "delete" {
			if o.id == "" {
				return nil, &bulkError{"action_request_validation_exception", fmt.Sprintf("Validation Failed: 1: id is missing (line [%d]);", i+1)}
			}
			ops = append(ops, o)
			continue
		}
		i++
		if i >= len(lines) {
			return nil, &bulkError{"illegal_argument_exception", fmt.Sprintf("The bulk request's action on line [%d] has no source line", i)}
		}
		o.source = bytes.TrimSuffix(lines[i], []byte{'\r'})
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(o.source, &obj); err != nil || obj == nil {
			o.err = &itemErr{400, apiError{Type: "mapper_parsing_exception", Reason: "failed to parse",
				CausedBy: &apiError{Type: "not_x_content_exception", Reason: "the document on line [" + strconv.Itoa(i+1) + "] is not a JSON object"}}}
		}
		if !validIndexName(o.index) {
			o.err = &itemErr{400, apiError{Type: "invalid_index_name_exception", Reason: "Invalid index name [" + o.index + "], must be lowercase and not contain \\, /, *, ?, \", <, >, |, ' ', ',', #, :"}}
		}
		ops = append(ops, o)
	}
	if len(ops) == 0 {
		return nil, &bulkError{"action_request_validation_exception", "Validation Failed: 1: no requests added;"}
	}
	return ops, nil
}

func validIndexName(n string) bool {
	if n == "" || n == "." || n == ".." || len(n) > 255 || strings.ToLower(n) != n || strings.ContainsAny(n, "\\/*?\"<>| ,#:") {
		return false
	}
	return !strings.ContainsAny(n[:1], "-_+")
}

func (s *Server) bulk(w http.ResponseWriter, body []byte, def string) {
	start := time.Now()
	ops, err := parseBulk(body, def)
	if err != nil {
		be := err.(*bulkError)
		writeError(w, http.StatusBadRequest, be.typ, be.reason)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	items := make([]map[string]any, len(ops))
	errorsSeen := false
	for i, o := range ops {
		res := s.apply(o)
		if res["error"] != nil {
			errorsSeen = true
		}
		items[i] = map[string]any{o.action: res}
	}
	if s.lose > 0 {
		s.lose--
		writeError(w, http.StatusServiceUnavailable, "searchtest_lost_answer", "the documents were indexed, and this answer stands for one that was lost")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"took": time.Since(start).Milliseconds(), "errors": errorsSeen, "items": items})
}

// apply carries out one bulk item, under s.mu, and returns its answer.
func (s *Server) apply(o op) map[string]any {
	res := map[string]any{"_index": o.index, "_id": o.id}
	fail := func(status int, e apiError) map[string]any {
		res["status"], res["error"] = status, e
		return res
	}
	if o.err != nil {
		return fail(o.err.status, o.err.apiError)
	}
	if o.id == "" {
		var r [10]byte
		_, _ = rand.Read(r[:])
		o.id = base64.RawURLEncoding.EncodeToString(r[:])
		res["_id"] = o.id
	}
	var src map[string]any
	if o.source != nil {
		dec := json.NewDecoder(bytes.NewReader(o.source))
		dec.UseNumber()
		_ = dec.Decode(&src)
	}
	key := o.index + "\x00" + o.id
	s.attempts[key]++
	if s.fail != nil {
		if st := s.fail(Item{Action: o.action, Index: o.index, ID: o.id, Source: src, Attempt: s.attempts[key]}); st != 0 {
			switch {
			case st == http.StatusTooManyRequests:
				return fail(st, apiError{Type: "es_rejected_execution_exception", Reason: "rejected execution of coordinating operation [searchtest: chosen to fail]"})
			case st >= 500:
				return fail(st, apiError{Type: "unavailable_shards_exception", Reason: "[" + o.index + "][0] primary shard is not active (searchtest: chosen to fail)"})
			default:
				return fail(st, apiError{Type: "mapper_parsing_exception", Reason: "failed to parse (searchtest: chosen to fail)"})
			}
		}
	}
	ix := s.indices[o.index]
	switch o.action {
	case "delete":
		if ix == nil || ix.docs[o.id] == nil {
			res["status"], res["result"] = http.StatusNotFound, "not_found"
			return res
		}
		v := ix.docs[o.id].version + 1
		delete(ix.docs, o.id)
		return s.ok(res, v, "deleted", http.StatusOK)
	case "create":
		if ix != nil && ix.docs[o.id] != nil {
			return fail(http.StatusConflict, apiError{Type: "version_conflict_engine_exception", Reason: "[" + o.id + "]: version conflict, document already exists (current version [" + strconv.Itoa(ix.docs[o.id].version) + "])"})
		}
	}
	fields := map[string]string{}
	if ix != nil {
		fields = maps.Clone(ix.fields)
	} else {
		fields = s.templateFields(o.index)
	}
	if e := checkValue(fields, "", src); e != nil {
		e.Reason += " in document with id '" + o.id + "'"
		return fail(http.StatusBadRequest, *e)
	}
	if ix == nil {
		ix = &index{docs: map[string]*doc{}}
		s.indices[o.index] = ix
	}
	ix.fields = fields
	d := ix.docs[o.id]
	if d == nil {
		d = &doc{}
		ix.docs[o.id] = d
	}
	d.source = slices.Clone(o.source)
	d.version++
	if d.version == 1 {
		return s.ok(res, 1, "created", http.StatusCreated)
	}
	return s.ok(res, d.version, "updated", http.StatusOK)
}

func (s *Server) ok(res map[string]any, version int, result string, status int) map[string]any {
	s.seq++
	res["_version"], res["result"], res["status"] = version, result, status
	res["_shards"] = map[string]int{"total": 2, "successful": 1, "failed": 0}
	res["_seq_no"], res["_primary_term"] = s.seq, 1
	return res
}

// templateFields are the mappings a new index takes: those of the
// matching template of highest priority, under s.mu.
func (s *Server) templateFields(name string) map[string]string {
	var best *template
	for _, t := range s.templates {
		for _, p := range t.patterns {
			if match(p, name) && (best == nil || t.priority > best.priority) {
				best = t
			}
		}
	}
	if best == nil {
		return map[string]string{}
	}
	return maps.Clone(best.fields)
}

// checkValue checks an object's values against the fields' types, adding
// the dynamic mappings of fields not mapped yet; it returns what
// OpenSearch would say of the first that does not fit.
func checkValue(fields map[string]string, prefix string, obj map[string]any) *apiError {
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if e := checkField(fields, prefix+k, obj[k]); e != nil {
			return e
		}
	}
	return nil
}

func checkField(fields map[string]string, name string, v any) *apiError {
	if v == nil {
		return nil
	}
	if arr, ok := v.([]any); ok {
		for _, x := range arr {
			if e := checkField(fields, name, x); e != nil {
				return e
			}
		}
		return nil
	}
	typ, mapped := fields[name]
	if !mapped {
		typ = dynamicType(v)
		fields[name] = typ
	}
	bad := func(cause *apiError) *apiError {
		preview, _ := json.Marshal(v)
		return &apiError{Type: "mapper_parsing_exception",
			Reason:   fmt.Sprintf("failed to parse field [%s] of type [%s]. Preview of field's value: '%.40s'", name, typ, preview),
			CausedBy: cause}
	}
	obj, isObj := v.(map[string]any)
	if typ == "object" {
		if !isObj {
			return &apiError{Type: "mapper_parsing_exception", Reason: fmt.Sprintf("object mapping for [%s] tried to parse field [%s] as object, but found a concrete value", name, name)}
		}
		return checkValue(fields, name+".", obj)
	}
	if isObj {
		return bad(&apiError{Type: "illegal_state_exception", Reason: "Can't get text on a START_OBJECT"})
	}
	switch typ {
	case "date":
		switch x := v.(type) {
		case json.Number:
			if _, err := x.Int64(); err != nil {
				return bad(&apiError{Type: "illegal_argument_exception", Reason: "failed to parse date field [" + x.String() + "] with format [strict_date_optional_time||epoch_millis]"})
			}
		case string:
			if !isDate(x) {
				return bad(&apiError{Type: "illegal_argument_exception", Reason: "failed to parse date field [" + x + "] with format [strict_date_optional_time||epoch_millis]"})
			}
		default:
			return bad(&apiError{Type: "illegal_argument_exception", Reason: "failed to parse date field"})
		}
	case "integer", "long":
		n, err := numberOf(v)
		if err != nil {
			return bad(&apiError{Type: "number_format_exception", Reason: err.Error()})
		}
		if typ == "integer" && (n > 1<<31-1 || n < -(1<<31)) {
			return bad(&apiError{Type: "illegal_argument_exception", Reason: "Value [" + fmt.Sprint(v) + "] is out of range for an integer"})
		}
	case "double", "float":
		if _, err := numberOf(v); err != nil {
			return bad(&apiError{Type: "number_format_exception", Reason: err.Error()})
		}
	case "boolean":
		if _, ok := v.(bool); !ok && v != "true" && v != "false" {
			return bad(&apiError{Type: "illegal_argument_exception", Reason: "Failed to parse value [" + fmt.Sprint(v) + "] as only [true] or [false] are allowed."})
		}
	}
	return nil
}

// numberOf reads a number, or a string holding one (OpenSearch coerces
// them).
func numberOf(v any) (float64, error) {
	switch x := v.(type) {
	case json.Number:
		return x.Float64()
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("For input string: %q", x)
		}
		return f, nil
	}
	return 0, fmt.Errorf("not a number: %v", v)
}

// isDate reports whether s is a date strict_date_optional_time reads.
func isDate(s string) bool {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02", "2006-01", "2006"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}

// dynamicType is the type OpenSearch's dynamic mapping gives a field from
// its first value.
func dynamicType(v any) string {
	switch x := v.(type) {
	case bool:
		return "boolean"
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return "long"
		}
		return "float"
	case string:
		if len(x) >= 10 && isDate(x) { // date_detection: dates only
			return "date"
		}
		return "text"
	case map[string]any:
		return "object"
	}
	return "text"
}
