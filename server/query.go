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
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	began := time.Now()
	// Events come in the order the store took them, which is close to
	// their own; the time range is applied to each.
	after, err := ls.FirstEventSince(ctx, c.Account, group, start)
	if err != nil {
		return logStoreError(err, "log group "+group)
	}
	// The store hands over only events in the time range that the
	// query's filters can match, and only what the query reads of them.
	opts := logstore.QueryOptions(q.Fields(), q.MessageLiterals(), start, end)
	opts.After = after
	rd := ls.ReadGroup(ctx, c.Account, group, opts)
	defer rd.Close()
	next := func() (logquery.Event, bool) {
		e, ok := rd.Next()
		return logquery.Event{Timestamp: e.Time, Ingestion: e.Ingested, Stream: e.Stream, Message: e.Message}, ok
	}
	res, err := q.Run(ctx, next, logquery.Limits{})
	if err == nil {
		err = rd.Err()
	}
	if err != nil {
		if ctx.Err() != nil && r.Context().Err() == nil {
			return errorf(http.StatusBadRequest, api.CodeLimitExceededException, "the query took longer than %v: narrow the time range or add a filter", queryTimeout)
		}
		return errorf(http.StatusBadRequest, api.CodeQueryFailed, "%v", err)
	}
	rows := res.Rows
	if rows == nil {
		rows = [][]any{}
	}
	writeJSON(w, http.StatusOK, api.QueryResult{Columns: res.Columns, Rows: rows, Scanned: res.Scanned, Matched: res.Matched, ElapsedMS: time.Since(began).Milliseconds()})
	return nil
}
