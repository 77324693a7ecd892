package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/postern/postern/authz"
	"github.com/postern/postern/logquery"
)

// CloudWatch Logs Insights' asynchronous queries (StartQuery,
// GetQueryResults, StopQuery) over the built-in log groups, run by the
// native API's query engine (package logquery).

const (
	// maxQueriesPerAccount bounds what an account's queries hold in
	// memory at once, running or with results waiting (CloudWatch Logs
	// allows 30 running).
	maxQueriesPerAccount = 30
	// queryResultsKept is how long a finished query's results stay.
	queryResultsKept = 15 * time.Minute
)

// maxQueryResultBytes bounds the results a finished query keeps.
const maxQueryResultBytes = 4 << 20

// keepRows returns how many of res's rows fit in max bytes.
func keepRows(res *logquery.Result, max int) int {
	size := 0
	for i, row := range res.Rows {
		for _, v := range row {
			size += len(fmt.Sprint(v)) + 16
		}
		if size > max {
			return i
		}
	}
	return len(res.Rows)
}

// awsQuery is one started query.
type awsQuery struct {
	account, user, group string
	started              time.Time
	cancel               context.CancelFunc

	mu     sync.Mutex // guards the fields below
	status string     // Running, Complete, Failed, Cancelled
	res    *logquery.Result
	err    string
	ended  time.Time
}

// awsQueries are the server's started queries, by ID.
type awsQueries struct {
	mu sync.Mutex // guards m
	m  map[string]*awsQuery
}

// add keeps q unless its account has too many, forgetting finished ones
// past queryResultsKept.
func (qs *awsQueries) add(id string, q *awsQuery, now time.Time) bool {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if qs.m == nil {
		qs.m = map[string]*awsQuery{}
	}
	n := 0
	for k, o := range qs.m {
		o.mu.Lock()
		gone := !o.ended.IsZero() && now.Sub(o.ended) > queryResultsKept
		o.mu.Unlock()
		if gone {
			delete(qs.m, k)
		} else if o.account == q.account {
			n++
		}
	}
	if n >= maxQueriesPerAccount {
		return false
	}
	qs.m[id] = q
	return true
}

func (qs *awsQueries) get(id string) *awsQuery {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	return qs.m[id]
}

func (s *Server) awsStartQuery(r *http.Request, body []byte) (any, error) {
	var in struct {
		LogGroupName        string   `json:"logGroupName"`
		LogGroupNames       []string `json:"logGroupNames"`
		LogGroupIdentifiers []string `json:"logGroupIdentifiers"`
		StartTime           int64    `json:"startTime"`
		EndTime             int64    `json:"endTime"`
		QueryString         string   `json:"queryString"`
		Limit               int      `json:"limit"`
	}
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	groups := append(append([]string{}, in.LogGroupNames...), in.LogGroupIdentifiers...)
	if in.LogGroupName != "" {
		groups = append(groups, in.LogGroupName)
	}
	if len(groups) != 1 {
		return nil, awsErrorf(http.StatusBadRequest, awsInvalidParameter, "name one log group (logGroupName): this server queries one group at a time")
	}
	if in.EndTime < in.StartTime {
		return nil, awsErrorf(http.StatusBadRequest, awsInvalidParameter, "endTime %d is before startTime %d", in.EndTime, in.StartTime)
	}
	// At most 10,000 rows, 1,000 unless asked, as Logs Insights: what
	// an account's 30 kept queries hold is bounded by it.
	if in.Limit < 0 || in.Limit > 10000 {
		return nil, awsErrorf(http.StatusBadRequest, awsInvalidParameter, "limit: %d is out of range 1-10000", in.Limit)
	}
	if in.Limit == 0 {
		in.Limit = 1000
	}
	qs := in.QueryString + fmt.Sprintf(" | limit %d", in.Limit)
	q, err := logquery.Parse(qs)
	if err != nil {
		return nil, awsErrorf(http.StatusBadRequest, "MalformedQueryException", "%v", err)
	}
	ls, err := s.awsLogStore()
	if err != nil {
		return nil, err
	}
	group := groups[0]
	if err := s.mayReadGroup(r, ls, authz.QueryLogs, group); err != nil {
		return nil, err
	}
	c := callerOf(r)
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	ctx, cancel := context.WithCancel(s.ctx)
	aq := &awsQuery{account: c.Account, user: c.User.Name, group: group, started: s.now(), cancel: cancel, status: "Running"}
	if !s.awsQueries.add(id, aq, s.now()) {
		cancel()
		return nil, awsErrorf(http.StatusBadRequest, "LimitExceededException", "account %s has %d queries running or with results kept: wait for them, or stop some (StopQuery)", c.Account, maxQueriesPerAccount)
	}
	start, end := time.Unix(in.StartTime, 0), time.Unix(in.EndTime, 0)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		res, err := runQuery(ctx, ls, q, c.Account, group, start, end)
		aq.mu.Lock()
		defer aq.mu.Unlock()
		aq.ended = s.now()
		switch {
		case aq.status == "Cancelled":
		case err != nil:
			aq.status, aq.err = "Failed", err.Error()
		default:
			aq.status, aq.res = "Complete", res
			if n := keepRows(res, maxQueryResultBytes); n < len(res.Rows) {
				aq.err = fmt.Sprintf("the results were cut at %d of %d rows (%d bytes kept per query): add a filter or a smaller limit", n, len(res.Rows), maxQueryResultBytes)
				res.Rows = res.Rows[:n]
			}
		}
	}()
	return map[string]string{"queryId": id}, nil
}

// ownQuery finds a query the caller started (another user's, or one
// that does not exist, is not found), checking the caller may still
// query its group.
func (s *Server) ownQuery(r *http.Request, id string) (*awsQuery, error) {
	c := callerOf(r)
	q := s.awsQueries.get(id)
	if q == nil || q.account != c.Account || q.user != c.User.Name {
		s.listing(r) // nothing to authorize: no query of the caller's
		return nil, awsErrorf(http.StatusBadRequest, awsResourceNotFound, "Query does not exist: %s", clipTo(id, 64))
	}
	ls, err := s.awsLogStore()
	if err != nil {
		return nil, err
	}
	return q, s.mayReadGroup(r, ls, authz.QueryLogs, q.group)
}

func (s *Server) awsGetQueryResults(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueryID string `json:"queryId"`
	}
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	q, err := s.ownQuery(r, in.QueryID)
	if err != nil {
		return nil, err
	}
	type field struct {
		Field string `json:"field"`
		Value string `json:"value"`
	}
	out := struct {
		Status     string    `json:"status"`
		Results    [][]field `json:"results"`
		Statistics struct {
			RecordsMatched float64 `json:"recordsMatched"`
			RecordsScanned float64 `json:"recordsScanned"`
		} `json:"statistics"`
		Error string `json:"errorMessage,omitempty"`
	}{Results: [][]field{}}
	q.mu.Lock()
	defer q.mu.Unlock()
	out.Status, out.Error = q.status, q.err
	if q.res != nil {
		out.Statistics.RecordsMatched, out.Statistics.RecordsScanned = float64(q.res.Matched), float64(q.res.Scanned)
		for _, row := range q.res.Rows {
			var fs []field
			for i, v := range row {
				if i < len(q.res.Columns) && v != nil {
					fs = append(fs, field{Field: q.res.Columns[i], Value: fmt.Sprint(queryValue(v))})
				}
			}
			out.Results = append(out.Results, fs)
		}
	}
	return out, nil
}

// queryValue is a result's value as Logs Insights prints it.
func queryValue(v any) any {
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format("2006-01-02 15:04:05.000")
	}
	return v
}

func (s *Server) awsStopQuery(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueryID string `json:"queryId"`
	}
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	q, err := s.ownQuery(r, in.QueryID)
	if err != nil {
		return nil, err
	}
	q.mu.Lock()
	running := q.status == "Running"
	if running {
		q.status = "Cancelled"
	}
	q.mu.Unlock()
	if running {
		q.cancel()
	}
	return map[string]bool{"success": running}, nil
}
