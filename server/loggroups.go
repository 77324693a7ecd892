package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/keys"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/stacktemplate"
)

// The built-in log groups' API: what CloudWatch Logs' console and
// DescribeLogGroups, DescribeLogStreams and GetLogEvents give, for the
// groups sessions deliver to when no CloudWatch Logs is configured. Group
// and stream names go in the query, as group names hold slashes
// (/aws/ssm/sessions).

func (s *Server) logStore() (LogStore, error) {
	if s.cfg.LogStore == nil {
		return nil, errorf(http.StatusNotFound, api.CodeNoLogStore, "this server has no built-in log store")
	}
	return s.cfg.LogStore, nil
}

// logStoreError turns the log store's errors into API errors.
func logStoreError(err error, what string) error {
	switch {
	case errors.Is(err, keys.ErrAccessDenied), errors.Is(err, keys.ErrInvalidState), errors.Is(err, keys.ErrNotFound), errors.Is(err, keys.ErrInvalid):
		return keyError(fmt.Errorf("%s: %w", what, err))
	case errors.Is(err, logstore.ErrNotFound):
		return errorf(http.StatusNotFound, api.CodeResourceNotFoundException, "%s does not exist", what)
	case errors.Is(err, logstore.ErrExists):
		return errorf(http.StatusConflict, api.CodeResourceAlreadyExistsException, "%s already exists", what)
	case errors.Is(err, logstore.ErrInvalid):
		return errorf(http.StatusBadRequest, api.CodeInvalidParameterException, "%v", err)
	}
	return err
}

func apiLogGroup(g logstore.Group) api.LogGroup {
	return api.LogGroup{
		Name: g.Name, ARN: ids.ARN("logs", g.Account, "log-group", g.Name), RetentionInDays: g.RetentionDays,
		KMSKeyID: g.KMSKeyID, CreationTime: g.CreatedAt, StoredBytes: g.StoredBytes,
		IndexBytes: g.IndexBytes, Encrypted: g.Encrypted,
	}
}

func (s *Server) handleListLogGroups(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.logStore()
	if err != nil {
		return err
	}
	gs, err := ls.Groups(r.Context(), callerOf(r).Account)
	if err != nil {
		return err
	}
	s.listing(r)
	out := make([]api.LogGroup, 0, len(gs))
	for _, g := range gs {
		if s.allowed(r, authz.DescribeLogGroups, logGroupEntity(g.Account, g.Name)) {
			out = append(out, apiLogGroup(g))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleCreateLogGroup(w http.ResponseWriter, r *http.Request) error {
	var req api.CreateLogGroupRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	g, err := s.createLogGroup(r, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiLogGroup(g))
	return nil
}

// createLogGroup authorizes and creates a log group, for the native API
// and CloudWatch Logs'.
func (s *Server) createLogGroup(r *http.Request, req api.CreateLogGroupRequest) (logstore.Group, error) {
	c := callerOf(r)
	if err := s.authorize(r, authz.CreateLogGroup, logGroupEntity(c.Account, req.Name)); err != nil {
		return logstore.Group{}, err
	}
	ls, err := s.logStore()
	if err != nil {
		return logstore.Group{}, err
	}
	g := logstore.Group{Account: c.Account, Name: req.Name, RetentionDays: req.RetentionInDays, KMSKeyID: req.KMSKeyID, CreatedAt: s.now()}
	if err := ls.CreateGroup(r.Context(), g); err != nil {
		return logstore.Group{}, logStoreError(err, "log group "+req.Name)
	}
	g, err = ls.Group(r.Context(), c.Account, req.Name)
	if err != nil {
		return logstore.Group{}, err
	}
	s.logf("server: %s created log group %s (retention %d days, key %q)", c.User.Name, g.Name, g.RetentionDays, g.KMSKeyID)
	return g, nil
}

func (s *Server) handleDeleteLogGroup(w http.ResponseWriter, r *http.Request) error {
	if err := s.deleteLogGroup(r, r.URL.Query().Get("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteLogGroup authorizes and deletes a log group.
func (s *Server) deleteLogGroup(r *http.Request, name string) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.DeleteLogGroup, logGroupEntity(c.Account, name)); err != nil {
		return err
	}
	if err := s.refuseProtected(r.Context(), c.Account, stacktemplate.TypeLogGroup, name); err != nil {
		return err
	}
	ls, err := s.logStore()
	if err != nil {
		return err
	}
	if err := ls.DeleteGroup(r.Context(), c.Account, name); err != nil {
		return logStoreError(err, "log group "+name)
	}
	s.logf("server: %s deleted log group %s", c.User.Name, name)
	return nil
}

// handleSetRetention sets ?name='s retention to ?days= (0: never expire),
// as PutRetentionPolicy does.
func (s *Server) handleSetRetention(w http.ResponseWriter, r *http.Request) error {
	name, v := r.URL.Query().Get("name"), r.URL.Query().Get("days")
	days, err := strconv.Atoi(v)
	if err != nil {
		// Authorized first: the answer says nothing of the group.
		if aerr := s.authorize(r, authz.PutRetentionPolicy, logGroupEntity(callerOf(r).Account, name)); aerr != nil {
			return aerr
		}
		return errorf(http.StatusBadRequest, api.CodeInvalidParameterException, "days: %q is not a number of days", v)
	}
	if err := s.setRetention(r, name, days); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setRetention authorizes and sets a log group's retention.
func (s *Server) setRetention(r *http.Request, name string, days int) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.PutRetentionPolicy, logGroupEntity(c.Account, name)); err != nil {
		return err
	}
	if err := s.refuseProtected(r.Context(), c.Account, stacktemplate.TypeLogGroup, name); err != nil {
		return err
	}
	ls, err := s.logStore()
	if err != nil {
		return err
	}
	if err := ls.SetRetention(r.Context(), c.Account, name, days); err != nil {
		return logStoreError(err, "log group "+name)
	}
	s.logf("server: %s set the retention of log group %s to %d days", c.User.Name, name, days)
	return nil
}

func (s *Server) handleListLogStreams(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.logStore()
	if err != nil {
		return err
	}
	name := r.URL.Query().Get("group")
	if err := s.authorize(r, authz.DescribeLogStreams, logGroupEntity(callerOf(r).Account, name)); err != nil {
		return err
	}
	streams, err := ls.Streams(r.Context(), callerOf(r).Account, name)
	if err != nil {
		return logStoreError(err, "log group "+name)
	}
	t := func(v time.Time) *time.Time {
		if v.IsZero() {
			return nil
		}
		return &v
	}
	out := make([]api.LogStream, 0, len(streams))
	for _, st := range streams {
		out = append(out, api.LogStream{
			Name: st.Name, FirstEventTime: t(st.FirstEvent), LastEventTime: t(st.LastEvent),
			LastIngestionTime: t(st.LastIngested), Events: st.Events, StoredBytes: st.StoredBytes,
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleLogEvents returns the events of ?group= and ?stream= after
// ?after=ID, up to ?limit=N (at most 10,000, the default), oldest first.
func (s *Server) handleLogEvents(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.logStore()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	num := func(key string, def int64) (int64, error) {
		v := q.Get(key)
		if v == "" {
			return def, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, errorf(http.StatusBadRequest, api.CodeInvalidParameterException, "%s: %q is not a non-negative integer", key, v)
		}
		return n, nil
	}
	after, err := num("after", 0)
	if err != nil {
		return err
	}
	limit, err := num("limit", 10000)
	if err != nil {
		return err
	}
	if limit == 0 || limit > 10000 {
		return errorf(http.StatusBadRequest, api.CodeInvalidParameterException, "limit: %d is out of range 1–10000", limit)
	}
	name, stream := q.Get("group"), q.Get("stream")
	if err := s.mayReadGroup(r, ls, authz.GetLogEvents, name); err != nil {
		return err
	}
	evs, err := ls.Events(r.Context(), callerOf(r).Account, name, stream, after, int(limit))
	if err != nil {
		return logStoreError(err, "log group "+name)
	}
	out := make([]api.LogEvent, 0, len(evs))
	for _, e := range evs {
		out = append(out, api.LogEvent{ID: e.ID, Timestamp: e.Time, IngestionTime: e.Ingested, Message: e.Message})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// maxTailWait bounds how long a tail request waits for new events.
const maxTailWait = 25 * time.Second

// handleTail returns the events of ?group= (default OwnLogGroup), or only
// its stream ?session=, after the event ?after=ID, or else those since
// ?since= (RFC 3339; default 10 minutes ago). With ?wait=D it waits up to D
// for events when there are none yet, so that a follower sees them as
// they arrive.
func (s *Server) handleTail(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.logStore()
	if err != nil {
		return err
	}
	c := callerOf(r)
	q := r.URL.Query()
	group, session := q.Get("group"), q.Get("session")
	if group == "" {
		group = OwnLogGroup
	}
	if err := s.mayReadGroup(r, ls, authz.GetLogEvents, group); err != nil {
		return err
	}
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		if wait, err = time.ParseDuration(v); err != nil || wait < 0 {
			return errorf(http.StatusBadRequest, api.CodeInvalidParameterException, "wait: %q is not a duration such as 20s", v)
		}
		wait = min(wait, maxTailWait)
	}
	var after int64
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return errorf(http.StatusBadRequest, api.CodeInvalidParameterException, "after: %q is not an event ID", v)
		}
	} else {
		since := s.now().Add(-10 * time.Minute)
		if v := q.Get("since"); v != "" {
			if since, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return errorf(http.StatusBadRequest, api.CodeInvalidParameterException, "since: %q is not an RFC 3339 time", v)
			}
		}
		if after, err = ls.FirstEventSince(r.Context(), c.Account, group, since); err != nil {
			return logStoreError(err, "log group "+group)
		}
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		changed := s.logSignal.wait() // before reading, so nothing slips between
		var evs []logstore.Event
		if session != "" {
			evs, err = ls.Events(r.Context(), c.Account, group, session, after, 1000)
			for i := range evs {
				evs[i].Stream = session
			}
		} else {
			evs, err = ls.GroupEvents(r.Context(), c.Account, group, after, 1000)
		}
		if err != nil {
			return logStoreError(err, "log group "+group)
		}
		if len(evs) > 0 || wait == 0 {
			out := api.TailResponse{Events: make([]api.LogEvent, 0, len(evs)), Next: after}
			for _, e := range evs {
				out.Events = append(out.Events, api.LogEvent{ID: e.ID, Timestamp: e.Time, IngestionTime: e.Ingested, Message: e.Message, Stream: e.Stream})
				out.Next = e.ID
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			wait = 0 // answer with what there is: nothing
		case <-r.Context().Done():
			return nil
		}
	}
}

// mayReadGroup checks that the caller may read the group's events: for a
// group sealed with a key, its policy must let them decrypt, as CloudWatch
// Logs requires kms:Decrypt of whoever reads an encrypted group.
func (s *Server) mayReadGroup(r *http.Request, ls LogStore, action authz.Action, group string) error {
	if err := s.authorize(r, action, logGroupEntity(callerOf(r).Account, group)); err != nil {
		return err
	}
	return s.mayDecryptGroup(r, ls, group)
}

// mayDecryptGroup checks that the caller may decrypt a sealed group's
// events under its key's policy.
func (s *Server) mayDecryptGroup(r *http.Request, ls LogStore, group string) error {
	ctx, c := r.Context(), callerOf(r)
	ks := s.cfg.Keys
	if ks == nil {
		return nil
	}
	// On every tail poll: the group's row, not its sizes.
	ref, sealed, err := ls.Sealing(ctx, c.Account, group)
	if err != nil {
		return logStoreError(err, "log group "+group)
	}
	if !sealed {
		return nil
	}
	if ref == "" {
		ref = keys.DefaultKeyAlias
	}
	if err := ks.Authorize(ctx, s.keyCaller(ctx, c), ref, "kms:Decrypt", keys.LogGroupContext(c.Account, group)); err != nil {
		return keyError(fmt.Errorf("log group %s: %w", group, err))
	}
	return nil
}
