package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/audit"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/events"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/store"
)

// The audit trail: every API call (who, what, on what, from where, when,
// with which result, under which request id) and every session's start
// and end, appended to a hash chain in the metadata store (package audit).
// A call's answer is held until its record is written: if the record
// cannot be, the call fails instead, so that the trail never silently
// misses one, and the record is kept and written late once it can be
// (diskfull.go). What the throttle counts instead of recording, and
// answers that stream (a session's WebSocket, a large download) and so go
// out before their record, are the exceptions; the latter's records are
// kept and written late just the same.

// auditInfo is what handlers add to their request's record.
type auditInfo struct {
	account, actor string
	detail         string
	authz          string // the authorization decision, when there was one
	// action, when set, names the call instead of its route: an AWS API
	// operation (all of them share POST /).
	action string
}

type auditKey struct{}

func auditOf(r *http.Request) *auditInfo {
	ai, _ := r.Context().Value(auditKey{}).(*auditInfo)
	return ai
}

// audited records every API request h serves.
func (s *Server) audited(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Health checks and the console's static pages are not calls
		// of anyone's: the API calls the pages make are.
		awsAPI := r.Method == http.MethodPost && r.URL.Path == "/"
		if r.URL.Path == api.PathHealth || !strings.HasPrefix(r.URL.Path, "/v1/") && !awsAPI {
			h.ServeHTTP(w, r)
			return
		}
		var id [8]byte
		rand.Read(id[:])
		reqID := hex.EncodeToString(id[:])
		w.Header().Set("X-Postern-Request-Id", reqID)
		ai := &auditInfo{actor: "anonymous"}
		// The answer is held until its record is written (unless it
		// streams: see statusWriter).
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK, hold: true}
		r = r.WithContext(context.WithValue(r.Context(), auditKey{}, ai))
		h.ServeHTTP(sw, r)
		action := r.Pattern
		if ai.action != "" {
			action = ai.action
		} else if action == "" {
			action = r.Method + " " + r.URL.Path // no route matched
		}
		detail := ai.detail
		if ai.authz != "" {
			detail = strings.TrimPrefix(detail+"; "+ai.authz, "; ")
		}
		if ai.actor == "anonymous" && sw.status >= 400 && !s.auditFlood.Admit(r.RemoteAddr, action, s.now()) {
			sw.release()
			return // counted, and summarized by flushAuditFlood
		}
		rec, err := s.writeAudit(context.WithoutCancel(r.Context()), store.AuditRecord{
			Account: ai.account, Actor: ai.actor, Action: action, Resource: r.URL.RequestURI(), Source: r.RemoteAddr,
			Result: resultOf(sw.status), Status: sw.status, RequestID: reqID, Detail: detail,
		})
		if err == nil {
			sw.release()
			return
		}
		if !sw.discard() {
			s.keepAudit(rec, err) // the answer went out: recorded late
			return
		}
		// The call fails instead, and is recorded (late) as it was
		// answered.
		if ae, ok := s.diskError(err).(*apiError); ok {
			ae.Msg = "this call's audit record could not be written, so the call fails: " + ae.Msg
			err = ae
		} else {
			err = errorf(http.StatusInternalServerError, api.CodeAuditFailed, "this call's audit record could not be written, so the call fails: %v", err)
		}
		s.writeError(sw, r, err)
		sw.release()
		rec.Status, rec.Result = sw.status, resultOf(sw.status)
		rec.Detail = clipTo(strings.TrimPrefix(rec.Detail+"; ", "; ")+"answered "+ai.detail, maxAuditDetail)
		s.keepAudit(rec, err)
	})
}

func resultOf(status int) string {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "Denied"
	case status >= 400:
		return "Failed"
	}
	return "Allowed"
}

// auditEvent records a session's lifecycle event.
func (s *Server) auditEvent(sess store.Session, action, detail string) {
	s.appendAudit(s.ctx, store.AuditRecord{
		Account: sess.Account, Actor: ids.UserARN(sess.Account, sess.Owner), Action: action,
		Resource: sess.ID, Result: "Allowed", Detail: detail,
	})
}

// Bounds of an audit record's fields, which quote what callers sent:
// the trail must hold every call, not every byte of every call.
const (
	maxAuditAction   = 256
	maxAuditResource = 1 << 10
	maxAuditDetail   = 2 << 10
)

// appendAudit writes rec to the trail, after any records kept for a full
// disk. If it cannot, rec is kept to be written late (auditBacklog) and
// the error returned.
func (s *Server) appendAudit(ctx context.Context, rec store.AuditRecord) error {
	rec, err := s.writeAudit(ctx, rec)
	if err != nil {
		s.keepAudit(rec, err)
	}
	return err
}

// writeAudit writes rec to the trail, after any records kept for a full
// disk, and returns it as it is to be written (clipped).
func (s *Server) writeAudit(ctx context.Context, rec store.AuditRecord) (store.AuditRecord, error) {
	rec.Time = audit.Time(s.now())
	rec.Actor, rec.Source = clipTo(rec.Actor, maxAuditAction), clipTo(rec.Source, maxAuditAction)
	rec.Action = clipTo(rec.Action, maxAuditAction)
	rec.Resource = clipTo(rec.Resource, maxAuditResource)
	rec.Detail = clipTo(rec.Detail, maxAuditDetail)
	s.auditMu.Lock()
	err := s.writeAuditBacklogLocked(ctx)
	if err == nil {
		var written store.AuditRecord
		if written, err = s.store.AppendAudit(ctx, rec, s.chain.Link); err == nil {
			s.auditMu.Unlock()
			s.deliverAudit(ctx, written)
			return rec, nil
		}
	}
	s.auditMu.Unlock()
	s.disk.Report(err)
	return rec, err
}

// keepAudit keeps a record writeAudit could not write, to be written late.
func (s *Server) keepAudit(rec store.AuditRecord, err error) {
	s.auditBacklog.add(rec)
	s.logf("server: audit trail: %v (the record of %s %s is kept and written when the trail can be written again)", err, rec.Action, clip(rec.Resource))
}

// flushAuditBacklog writes the audit records kept for a full disk.
func (s *Server) flushAuditBacklog(ctx context.Context) {
	s.auditMu.Lock()
	err := s.writeAuditBacklogLocked(ctx)
	s.auditMu.Unlock()
	if err != nil {
		s.disk.Report(err)
		s.logf("server: audit trail: writing the records kept while it could not be written: %v", err)
	}
}

// writeAuditBacklogLocked writes the kept records in order, each saying
// it was written late, then a record of how many had to be dropped, if
// any. It stops at the first that still cannot be written. s.auditMu must
// be held.
func (s *Server) writeAuditBacklogLocked(ctx context.Context) error {
	b := &s.auditBacklog
	for {
		b.mu.Lock()
		if len(b.recs) == 0 {
			b.mu.Unlock()
			break
		}
		rec := b.recs[0]
		b.mu.Unlock()
		rec.Detail = clipTo(strings.TrimPrefix(rec.Detail+"; ", "; ")+
			"written late, at "+audit.Time(s.now()).Format(time.RFC3339)+": the trail could not be written when this happened", maxAuditDetail)
		written, err := s.store.AppendAudit(ctx, rec, s.chain.Link)
		if err != nil {
			return err
		}
		b.mu.Lock()
		b.recs = b.recs[1:]
		if len(b.recs) == 0 {
			b.recs = nil
		}
		b.mu.Unlock()
		s.deliverAudit(ctx, written)
	}
	b.mu.Lock()
	lost, first, last := b.lost, b.first, b.last
	b.mu.Unlock()
	if lost == 0 {
		return nil
	}
	written, err := s.store.AppendAudit(ctx, store.AuditRecord{
		Time: audit.Time(s.now()), Actor: "postern", Action: "AuditRecordsLost", Result: "Failed",
		Detail: fmt.Sprintf("%d audit records made between %s and %s could not be written (the trail could not be written, and %d more were already waiting) and are lost",
			lost, first.UTC().Format(time.RFC3339), last.UTC().Format(time.RFC3339), maxAuditBacklog),
	}, s.chain.Link)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.lost -= lost
	b.mu.Unlock()
	s.deliverAudit(ctx, written)
	return nil
}

// flushAuditFlood writes, every window until ctx ends and once more
// then, a summary record per source of the refused unauthenticated
// requests the throttle counted instead of recording one by one.
func (s *Server) flushAuditFlood(ctx context.Context) {
	t := time.NewTicker(s.auditFlood.Window)
	defer t.Stop()
	for {
		final := false
		select {
		case <-ctx.Done():
			final = true
		case <-t.C:
		}
		for _, sum := range s.auditFlood.Flush(s.now(), final) {
			src := "other sources (past the per-source tracking limit)"
			if sum.Source.IsValid() {
				src = sum.Source.String()
			}
			s.appendAudit(context.WithoutCancel(ctx), store.AuditRecord{
				Actor: "anonymous", Action: "RefusedRequestsSummarized", Source: src, Result: "Denied",
				Detail: fmt.Sprintf("%d refused unauthenticated requests from %s between %s and %s were counted, not recorded one by one (over %d a %v); the last was %s",
					sum.Count, src, sum.First.UTC().Format(time.RFC3339), sum.Last.UTC().Format(time.RFC3339), s.auditFlood.PerSource, s.auditFlood.Window, sum.LastAction),
			})
		}
		if final {
			return
		}
	}
}

// AuditLogGroup is the built-in log group that receives each account's
// audit records, for tails, queries and metric filters as session logs
// have.
const AuditLogGroup = "/postern/audit"

// deliverAudit copies a record to the account's AuditLogGroup: changes,
// refusals and failures, and sessions' lifecycle; plain reads stay in the
// trail only, or a tail of the group would feed itself.
func (s *Server) deliverAudit(ctx context.Context, rec store.AuditRecord) {
	ls := s.cfg.LogStore
	if ls == nil || rec.Account == "" || (strings.HasPrefix(rec.Action, "GET ") && rec.Result == "Allowed") {
		return
	}
	if err := s.ensureGroup(ctx, rec.Account, AuditLogGroup); err != nil {
		s.logf("server: audit trail: delivering to %s: %v", AuditLogGroup, err)
		return
	}
	msg, _ := json.Marshal(struct {
		EventVersion string    `json:"eventVersion"`
		EventType    string    `json:"eventType"`
		EventTime    time.Time `json:"eventTime"`
		api.AuditRecord
	}{"1.0", "AuditRecord", rec.Time, api.AuditRecord{Seq: rec.Seq, Time: rec.Time, Actor: rec.Actor, Action: rec.Action, Resource: rec.Resource,
		Source: rec.Source, Result: rec.Result, Status: rec.Status, RequestID: rec.RequestID, Detail: rec.Detail, Hash: hex.EncodeToString(rec.Hash)}})
	if err := ls.PutEvents(ctx, rec.Account, AuditLogGroup, "trail", []logstore.Event{{Time: rec.Time, Message: string(msg)}}); err != nil {
		s.logf("server: audit trail: delivering to %s: %v", AuditLogGroup, err)
		return
	}
	s.logSignal.notify()
	// And as an event, as CloudTrail's records reach EventBridge.
	s.events.Emit(ctx, rec.Account, events.SourceAudit, events.APICall, nil, api.AuditRecord{Seq: rec.Seq, Time: rec.Time, Actor: rec.Actor,
		Action: rec.Action, Resource: rec.Resource, Source: rec.Source, Result: rec.Result, Status: rec.Status, RequestID: rec.RequestID, Detail: rec.Detail})
}

// statusWriter remembers the status written, and lets WebSocket upgrades
// and flushes through. With hold set it keeps the answer back until
// release (so that discard can replace it with an error), unless the
// handler flushes, upgrades, or writes more than maxHeld.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	hold   bool
	held   []byte // the body held back
	sent   bool   // the status went to the ResponseWriter
}

// maxHeld bounds a held answer; most are a few kilobytes.
const maxHeld = 1 << 20

func (w *statusWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code) // informational: more follows
		return
	}
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	if !w.hold || code == http.StatusSwitchingProtocols {
		w.hold = false // an upgrade: the connection is the handler's
		w.send()
	}
}

func (w *statusWriter) send() {
	if !w.sent {
		w.sent = true
		w.ResponseWriter.WriteHeader(w.status)
	}
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	if w.hold && len(w.held)+len(b) <= maxHeld {
		w.held = append(w.held, b...)
		return len(b), nil
	}
	if err := w.stopHolding(); err != nil {
		return 0, err
	}
	return w.ResponseWriter.Write(b)
}

// stopHolding sends what was held, and passes everything on from now.
func (w *statusWriter) stopHolding() error {
	w.hold = false
	w.send()
	if len(w.held) > 0 {
		held := w.held
		w.held = nil
		if _, err := w.ResponseWriter.Write(held); err != nil {
			return err
		}
	}
	return nil
}

// release sends the answer held back, if any.
func (w *statusWriter) release() {
	if w.wrote || len(w.held) > 0 {
		w.stopHolding()
	}
	w.hold = false
}

// discard drops the answer held back so that another can be written
// instead, reporting false if it already went out. The handler's headers
// are dropped with it (a cookie, say, of a sign-in that failed).
func (w *statusWriter) discard() bool {
	if w.sent {
		return false
	}
	w.held, w.hold, w.wrote = nil, false, false
	h := w.ResponseWriter.Header()
	reqID := h.Get("X-Postern-Request-Id")
	clear(h)
	h.Set("X-Postern-Request-Id", reqID)
	return true
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	w.stopHolding()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("server: connection cannot be hijacked")
	}
	if !w.wrote {
		w.status, w.wrote = http.StatusSwitchingProtocols, true
	}
	w.hold, w.sent = false, true // the connection is the handler's now
	return h.Hijack()
}

// handleAudit returns the account's audit records (administrators only):
// ?since= (RFC 3339), ?actor=, ?action= (a substring), ?after=SEQ, ?limit=N.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.LookupAuditEvents, accountEntity(c)); err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AuditFilter{Account: c.Account, Actor: q.Get("actor"), Action: q.Get("action"), Limit: 10000}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return errorf(http.StatusBadRequest, api.CodeValidationError, "since: %q is not an RFC 3339 time", clip(v))
		}
		f.Since = t
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return errorf(http.StatusBadRequest, api.CodeValidationError, "after: %q is not a record number", clip(v))
		}
		f.AfterSeq = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return errorf(http.StatusBadRequest, api.CodeValidationError, "limit: %q is out of range 1-10000", clip(v))
		}
		f.Limit = n
	}
	// The records go out as the store reads them, so memory stays flat
	// however many there are. Once the first is out the status is sent:
	// a failure after it cuts the array short, which no client takes for
	// a whole answer.
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	sep := "["
	err := s.store.EachAudit(r.Context(), f, func(rec store.AuditRecord) error {
		bw.WriteString(sep)
		sep = ","
		return enc.Encode(api.AuditRecord{Seq: rec.Seq, Time: rec.Time, Actor: rec.Actor, Action: rec.Action, Resource: rec.Resource,
			Source: rec.Source, Result: rec.Result, Status: rec.Status, RequestID: rec.RequestID, Detail: rec.Detail, Hash: hex.EncodeToString(rec.Hash)})
	})
	if err != nil {
		if sep == "[" {
			return err // nothing sent yet: an ordinary error
		}
		s.logf("server: audit query: %v (the answer was cut short)", err)
		bw.Flush()
		return nil
	}
	if sep == "[" {
		bw.WriteString("[")
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

// handleAuditVerify checks the whole trail's chain (administrators only).
func (s *Server) handleAuditVerify(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.VerifyAuditTrail, accountEntity(c)); err != nil {
		return err
	}
	// One record at a time: the trail can be longer than memory.
	v := s.chain.Verifier()
	out := api.AuditVerification{OK: true}
	var last []byte
	err := s.store.EachAudit(r.Context(), store.AuditFilter{}, func(rec store.AuditRecord) error {
		out.Records++
		last = rec.Hash
		var b *audit.Broken
		if err := v.Next(rec); errors.As(err, &b) && out.OK {
			out.OK, out.BrokenAt, out.Reason = false, b.Seq, b.Reason
		}
		return nil
	})
	if err != nil {
		return err
	}
	if last != nil {
		out.Head = hex.EncodeToString(last)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
