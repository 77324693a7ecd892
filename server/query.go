package server

import (
	"context"
	"net/http"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/logquery"
	"github.com/postern/postern/logstore"
)

// queryTimeout bounds one query, so that an expensive one answers with a
// clear error instead of holding the server.
const queryTimeout = 30 * time.Second

// handleQuery runs ?q= (a Logs Insights-style query, package logquery)
// over the events of ?group= (default OwnLogGroup) whose time is within
// [?start=, ?end=] (RFC 3339; default the last hour).
func (s *Server) handleQuery(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.logStore()
	if err != nil {
		return err
	}
	c := callerOf(r)
	qv := r.URL.Query()
	q, err := logquery.Parse(qv.Get("q"))
	if err != nil {
		return errorf(http.StatusBadRequest, api.CodeMalformedQueryException, "%v", err)
	}
	group := qv.Get("group")
	if group == "" {
		group = OwnLogGroup
	}
	if err := s.mayReadGroup(r, ls, authz.QueryLogs, group); err != nil {
		return err
	}
	end := s.now()
	start := end.Add(-time.Hour)
	for _, p := range []struct {
		key string
		t   *time.Time
	}{{"start", &start}, {"end", &end}} {
		if v := qv.Get(p.key); v != "" {
			if *p.t, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return errorf(http.StatusBadRequest, api.CodeInvalidParameterException, "%s: %q is not an RFC 3339 time", p.key, v)
			}
		}
	}
	if end.Before(start) {
		return errorf(http.StatusBadRequest, api.CodeInvalidParameterException, "end %s is before start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	began := time.Now()
	res, err := runQuery(r.Context(), ls, q, c.Account, group, start, end)
	if err != nil {
		return err
	}
	rows := res.Rows
	if rows == nil {
		rows = [][]any{}
	}
	writeJSON(w, http.StatusOK, api.QueryResult{Columns: res.Columns, Rows: rows, Scanned: res.Scanned, Matched: res.Matched, ElapsedMS: time.Since(began).Milliseconds()})
	return nil
}

// runQuery runs q over the events of an account's group whose time is
// within [start, end], for at most queryTimeout; its errors are the API's.
func runQuery(ctx context.Context, ls LogStore, q *logquery.Query, account, group string, start, end time.Time) (*logquery.Result, error) {
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	// Events come in the order the store took them, which is close to
	// their own; the time range is applied to each.
	after, err := ls.FirstEventSince(qctx, account, group, start)
	if err != nil {
		return nil, logStoreError(err, "log group "+group)
	}
	// The store hands over only events in the time range that the
	// query's filters can match, and only what the query reads of them.
	opts := logstore.QueryOptions(q.Fields(), q.MessageLiterals(), start, end)
	opts.After = after
	rd := ls.ReadGroup(qctx, account, group, opts)
	defer rd.Close()
	next := func() (logquery.Event, bool) {
		e, ok := rd.Next()
		return logquery.Event{Timestamp: e.Time, Ingestion: e.Ingested, Stream: e.Stream, Message: e.Message}, ok
	}
	res, err := q.Run(qctx, next, logquery.Limits{})
	if err == nil {
		err = rd.Err()
	}
	if err != nil {
		if qctx.Err() != nil && ctx.Err() == nil {
			return nil, errorf(http.StatusBadRequest, api.CodeLimitExceededException, "the query took longer than %v: narrow the time range or add a filter", queryTimeout)
		}
		return nil, errorf(http.StatusBadRequest, api.CodeQueryFailed, "%v", err)
	}
	return res, nil
}
