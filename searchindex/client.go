package searchindex

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/errmask"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/postern/postern/firehose"
)

// Client sends delivery streams' records to their clusters. Its zero
// value is ready; it keeps one opensearch-go client per cluster (and
// credentials), for its connections.
type Client struct {
	// Sleep waits between attempts at the documents a cluster failed
	// for now; nil: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time

	mu      sync.Mutex                       // guards clients and ensured
	clients map[string]*opensearchapi.Client // by connKey
	ensured map[string]time.Time             // templates seen or put, by templateKey, when
}

// Bounds and pacing.
const (
	// maxBulkBytes bounds one bulk request's body: Firehose's default
	// buffer for OpenSearch, well under the smallest
	// http.max_content_length of Amazon OpenSearch Service's instances
	// (10 MiB).
	maxBulkBytes = 5 << 20
	// itemAttempts is how often, within one Send, the documents a
	// cluster fails for now (429, 5xx) are sent; after that the worker
	// backs off and sends again from their record.
	itemAttempts = 4
	firstBackoff = 250 * time.Millisecond
	// requestTimeout bounds one HTTP request.
	requestTimeout = 30 * time.Second
	// templateRecheck is how long a template seen stays trusted to be
	// there: new indices are made daily, and take the template's
	// mappings only if it is there.
	templateRecheck = time.Hour
	maxClients      = 64
)

func connKey(d Destination) string {
	return d.Endpoint + "\x00" + d.Username + "\x00" + d.Password + "\x00" + d.APIKey + "\x00" + d.CAPEM
}

func templateKey(d Destination) string {
	return connKey(d) + "\x00" + d.IndexPrefix + "\x00" + d.IndexPattern()
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// client is the opensearch-go client of d's cluster and credentials,
// kept for its connections.
func (c *Client) client(d Destination) (*opensearchapi.Client, error) {
	k := connKey(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	if oc := c.clients[k]; oc != nil {
		return oc, nil
	}
	oc, err := newClient(d)
	if err != nil {
		return nil, err
	}
	if c.clients == nil || len(c.clients) >= maxClients {
		for _, old := range c.clients {
			_ = old.Client.Close()
		}
		c.clients = map[string]*opensearchapi.Client{}
	}
	c.clients[k] = oc
	return oc, nil
}

// newClient makes an opensearch-go client for d; Close lets go of it.
func newClient(d Destination) (*opensearchapi.Client, error) {
	discover := false
	cfg := opensearch.Config{
		Addresses: []string{d.Endpoint},
		Username:  d.Username,
		Password:  d.Password,
		// The transport retries a whole request the cluster is too
		// busy for or cannot route now; items are retried by Send.
		RetryOnStatus:  []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout},
		MaxRetries:     2,
		RetryBackoff:   func(n int) time.Duration { return min(firstBackoff<<max(n-1, 0), 2*time.Second) },
		RequestTimeout: requestTimeout,
		// One endpoint, as configured: no discovery of other nodes,
		// whatever OPENSEARCH_GO_ROUTER says (a cluster behind a
		// load balancer or a proxy names nodes Postern cannot reach).
		DiscoverNodesOnStart: &discover,
	}
	if d.APIKey != "" {
		cfg.Header = http.Header{"Authorization": {"ApiKey " + d.APIKey}}
	}
	if d.CAPEM != "" {
		cfg.CACert = []byte(d.CAPEM)
	}
	oc, err := opensearchapi.NewClient(opensearchapi.Config{Client: cfg, Errors: errmask.New(errmask.All)})
	if err != nil {
		return nil, fmt.Errorf("clusterEndpoint %s: %w", d.Endpoint, err)
	}
	return oc, nil
}

// Close lets go of the clusters' connections.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, oc := range c.clients {
		_ = oc.Client.Close()
	}
	c.clients = nil
}

// statusOf is a response's HTTP status; 0 when there was none.
func statusOf(r *opensearch.Response) int {
	if r == nil {
		return 0
	}
	return r.StatusCode
}

// credentials names the fields a 401 is about.
func credentials(d Destination) string {
	switch d.Authentication() {
	case "ApiKey":
		return "apiKey: the cluster refused the API key"
	case "Basic":
		return "username and password: the cluster refused them"
	}
	return "the cluster wants credentials: give a username and password, or an apiKey"
}

// unreachable explains a request that got no answer, naming the field at
// fault.
func unreachable(d Destination, err error) error {
	var ua x509.UnknownAuthorityError
	var cv *tls.CertificateVerificationError
	if errors.As(err, &ua) || errors.As(err, &cv) {
		if d.CAPEM != "" {
			return fmt.Errorf("caPem: the certificate of %s is not signed by the CA given: %w", d.Endpoint, err)
		}
		return fmt.Errorf("clusterEndpoint %s: its certificate is not trusted (give its CA as caPem): %w", d.Endpoint, err)
	}
	return fmt.Errorf("clusterEndpoint %s does not answer: %w", d.Endpoint, err)
}

// answerError explains a request the cluster answered with an error.
func answerError(d Destination, what string, status int, err error) error {
	if status == http.StatusUnauthorized {
		return fmt.Errorf("%s (%s: 401 Unauthorized)", credentials(d), what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Check checks a destination as a stream is made: its settings, that the
// cluster answers with these credentials, and that it takes the index
// template.
func (c *Client) Check(ctx context.Context, d Destination) error {
	if err := d.Check(); err != nil {
		return err
	}
	// A client of its own: one refused is not kept (its transport
	// would go on probing a cluster that said no), and deliveries make
	// theirs when they start.
	oc, err := newClient(d)
	if err != nil {
		return err
	}
	defer oc.Client.Close()
	info, err := oc.Info(ctx, nil)
	if err != nil {
		status := statusOf(info.Inspect().Response)
		switch status {
		case 0:
			return unreachable(d, err)
		case http.StatusForbidden:
			// A user allowed to index but not to read the cluster's
			// description (cluster:monitor/main): the template
			// tells.
		default:
			return answerError(d, "clusterEndpoint "+d.Endpoint+": GET /", status, err)
		}
	}
	if err := c.putTemplate(ctx, oc, d); err != nil {
		return err
	}
	return nil
}

// putTemplate puts d's index template.
func (c *Client) putTemplate(ctx context.Context, oc *opensearchapi.Client, d Destination) error {
	resp, err := oc.IndexTemplate.Create(ctx, opensearchapi.IndexTemplateCreateReq{IndexTemplate: d.IndexPrefix, Body: bytes.NewReader(d.Template())})
	if err != nil {
		status := statusOf(resp.Inspect().Response)
		if status == 0 {
			return unreachable(d, err)
		}
		return answerError(d, "indexName: the cluster did not take the index template "+d.IndexPrefix, status, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ensured == nil {
		c.ensured = map[string]time.Time{}
	}
	c.ensured[templateKey(d)] = c.now()
	return nil
}

// ensureTemplate puts d's index template if it is not there (someone
// deleted it, or the stream was made on another cluster's behalf); one
// that is there is left as it is, whoever changed it.
func (c *Client) ensureTemplate(ctx context.Context, oc *opensearchapi.Client, d Destination) error {
	k := templateKey(d)
	c.mu.Lock()
	seen, ok := c.ensured[k]
	c.mu.Unlock()
	if ok && c.now().Sub(seen) < templateRecheck {
		return nil
	}
	resp, err := oc.IndexTemplate.Exists(ctx, opensearchapi.IndexTemplateExistsReq{IndexTemplate: d.IndexPrefix})
	switch status := statusOf(resp); status {
	case http.StatusOK:
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.ensured == nil {
			c.ensured = map[string]time.Time{}
		}
		c.ensured[k] = c.now()
		return nil
	case http.StatusNotFound:
		return c.putTemplate(ctx, oc, d)
	case 0:
		return unreachable(d, err)
	default:
		return answerError(d, "index template "+d.IndexPrefix, status, err)
	}
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Send indexes records (subscription messages), each event one document,
// in bulk requests. Documents the cluster fails for now (429, 5xx) are
// sent again, alone, a few times with back-off; those it refuses for good
// (400 mapper_parsing_exception, say) come back in a *firehose.Refusal,
// for the stream's backup, with the records sent before them. It returns
// how many records were delivered: every document of the records before
// that one was indexed (or refused for good).
func (c *Client) Send(ctx context.Context, d Destination, records [][]byte) (int, error) {
	oc, err := c.client(d)
	if err != nil {
		return 0, err
	}
	if err := c.ensureTemplate(ctx, oc, d); err != nil {
		return 0, err
	}
	var docs []Doc
	var rows []firehose.RefusedRow
	for i, r := range records {
		ds, err := d.Documents(r)
		if err != nil {
			rows = append(rows, firehose.RefusedRow{Record: i, Data: r, Code: "OpenSearch.InvalidRecord", Message: err.Error()})
			continue
		}
		for j := range ds {
			ds[j].Record = i
		}
		docs = append(docs, ds...)
	}
	for start := 0; start < len(docs); {
		end, size := start, 0
		for end < len(docs) && (end == start || size+len(docs[end].Source) < maxBulkBytes) {
			size += len(docs[end].Source) + 200 // and its action line
			end++
		}
		refused, stop, err := c.bulkRetrying(ctx, oc, d, docs[start:end])
		rows = append(rows, refused...)
		if err != nil {
			return refusal(stop, rows, err)
		}
		start = end
	}
	return refusal(len(records), rows, nil)
}

// refusal is Send's answer: sent records, and the rows refused among
// them. Rows of later records are left out: those records are sent again,
// and refused again then.
func refusal(sent int, rows []firehose.RefusedRow, err error) (int, error) {
	slices.SortStableFunc(rows, func(a, b firehose.RefusedRow) int { return a.Record - b.Record })
	n := 0
	for n < len(rows) && rows[n].Record < sent {
		n++
	}
	if n == 0 {
		return sent, err
	}
	return sent, &firehose.Refusal{Rows: rows[:n], Err: err}
}

// bulkRetrying indexes docs, sending again those failed for now. It
// returns the rows refused for good and, when some documents are still
// not indexed, the record of the first of them and why.
func (c *Client) bulkRetrying(ctx context.Context, oc *opensearchapi.Client, d Destination, docs []Doc) (refused []firehose.RefusedRow, stop int, err error) {
	pending := docs
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		results, err := bulk(ctx, oc, pending)
		if err != nil {
			return refused, pending[0].Record, describe(d, err)
		}
		var again []Doc
		var last error
		for i, r := range results {
			switch {
			case r == nil:
			case refusedForGood(r.Status):
				refused = append(refused, firehose.RefusedRow{Record: pending[i].Record, Data: pending[i].Source,
					Code: "OpenSearch." + r.Type, Message: r.Error(), DocumentID: pending[i].ID, Index: pending[i].Index})
			default:
				again = append(again, pending[i])
				last = r
			}
		}
		if len(again) == 0 {
			return refused, 0, nil
		}
		if attempt == itemAttempts {
			if st := last.(*itemError).Status; st == http.StatusUnauthorized {
				last = fmt.Errorf("%s: %w", credentials(d), last)
			}
			return refused, again[0].Record, fmt.Errorf("%d of %d documents not indexed after %d attempts, the first: %w", len(again), len(docs), attempt, last)
		}
		if err := c.sleep(ctx, backoff); err != nil {
			return refused, again[0].Record, err
		}
		backoff *= 2
		pending = again
	}
}

// bulkError is a bulk request the cluster answered as a whole with an
// error, or did not answer.
type bulkError struct {
	status int
	err    error
}

func (e *bulkError) Error() string { return e.err.Error() }
func (e *bulkError) Unwrap() error { return e.err }

// describe names what a failed bulk request is about.
func describe(d Destination, err error) error {
	var be *bulkError
	if !errors.As(err, &be) {
		return err
	}
	if be.status == 0 {
		return unreachable(d, be.err)
	}
	return answerError(d, "bulk request", be.status, be.err)
}

// actionLine is a bulk request's index action.
type actionLine struct {
	Index struct {
		Index string `json:"_index"`
		ID    string `json:"_id"`
	} `json:"index"`
}

// bulk sends one bulk request of docs and returns each one's failure (nil:
// indexed), in order.
func bulk(ctx context.Context, oc *opensearchapi.Client, docs []Doc) ([]*itemError, error) {
	var body bytes.Buffer
	for _, d := range docs {
		var a actionLine
		a.Index.Index, a.Index.ID = d.Index, d.ID
		line, _ := json.Marshal(a)
		body.Write(line)
		body.WriteByte('\n')
		body.Write(d.Source)
		body.WriteByte('\n')
	}
	resp, err := oc.Bulk(ctx, opensearchapi.BulkReq{Body: bytes.NewReader(body.Bytes())})
	status := 0
	if resp != nil {
		status = statusOf(resp.Inspect().Response)
	}
	if resp == nil || len(resp.Items) == 0 {
		if err == nil {
			err = fmt.Errorf("%d, with no items", status)
		}
		return nil, &bulkError{status: status, err: err}
	}
	// Items answer the actions in order (a partial failure reported
	// as an error by OPENSEARCH_GO_ERROR_MASK is read from them too).
	if len(resp.Items) != len(docs) {
		return nil, &bulkError{status: status, err: fmt.Errorf("the cluster answered %d items for %d documents", len(resp.Items), len(docs))}
	}
	out := make([]*itemError, len(docs))
	for i, item := range resp.Items {
		for _, it := range item {
			if it.Error == nil && it.Status < 300 {
				continue
			}
			ie := &itemError{Status: it.Status}
			if it.Error != nil {
				ie.Type, ie.Reason = it.Error.Type, it.Error.Reason
				if it.Error.Cause.Reason != "" {
					ie.Reason += " (" + it.Error.Cause.Type + ": " + it.Error.Cause.Reason + ")"
				}
			}
			if ie.Status < 300 {
				ie.Status = http.StatusInternalServerError // an error with a success's status: try again
			}
			out[i] = ie
		}
	}
	return out, nil
}
