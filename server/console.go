package server

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/sso"
	"github.com/postern/postern/store"
)

// The web console's side of the API: sign-in with cookies, and the reads
// its pages need beyond the CLI's.
//
// A browser keeps its session token in an HttpOnly, Secure, SameSite=Strict
// cookie, so page scripts never hold it. Requests that change anything
// must also carry X-Postern-CSRF, a value derived from the token (a hash:
// it tells nothing of the token) that the console gets at sign-in; a page
// of another site can neither read it nor set the header. Cookie-borne
// WebSockets must come from the server's own origin.

const (
	sessionCookie = "postern_session"
	csrfCookie    = "postern_csrf"
	csrfHeader    = "X-Postern-CSRF"
	// consoleTTL is a browser session: a working day, after which the
	// console signs in again.
	consoleTTL = 12 * time.Hour
)

// csrfToken is the anti-forgery value of a session token.
func csrfToken(secret string) string {
	h := sha256.Sum256([]byte("postern console csrf v1\x00" + secret))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// cookieCheck checks what a cookie-authenticated request must carry
// besides the cookie.
func cookieCheck(r *http.Request, secret string) error {
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || u.Host != r.Host {
			return errorf(http.StatusForbidden, api.CodeCrossOrigin, "requests signed in by cookie must come from this server's own pages, not %q", origin)
		}
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") && r.Header.Get("Origin") == "" {
			return errorf(http.StatusForbidden, api.CodeCrossOrigin, "a WebSocket signed in by cookie must say its origin")
		}
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(csrfHeader)), []byte(csrfToken(secret))) != 1 {
		return errorf(http.StatusForbidden, api.CodeCSRFTokenMissing, "this request changes something and must carry the %s header the console got at sign-in", csrfHeader)
	}
	return nil
}

// consoleLogin is how the browser signs in: a password, or a single
// sign-on hand-off code.
type consoleLogin struct {
	Account  string `json:"account,omitempty"`
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	SSOCode  string `json:"ssoCode,omitempty"`
}

type consoleSession struct {
	User      string   `json:"user"`
	Account   string   `json:"account"`
	Groups    []string `json:"groups,omitempty"`
	CSRFToken string   `json:"csrfToken"`
}

func (s *Server) handleConsoleConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"sso": s.cfg.SSO != nil})
}

func (s *Server) consoleLogin(w http.ResponseWriter, r *http.Request) error {
	var req consoleLogin
	if err := readJSON(r, &req); err != nil {
		return err
	}
	var account, user string
	switch {
	case req.SSOCode != "":
		if s.ssoHandoffs == nil {
			return errorf(http.StatusBadRequest, api.CodeNoSingleSignOn, "this server has no single sign-on")
		}
		// The code is good only in the browser that started the
		// sign-in, with its binding cookie: one that leaked from a
		// victim's browser signs nobody else in.
		u, err := s.ssoHandoffs.TakeInBrowser(w, r, req.SSOCode)
		switch {
		case errors.Is(err, sso.ErrCodeElsewhere):
			s.logf("server: single sign-on: the console presented a sign-in code in a browser that did not start the sign-in; the code is void")
			return errorf(http.StatusForbidden, sso.CodeSignInElsewhere, "this sign-in was started in another browser: start it again in this one")
		case err != nil:
			return errorf(http.StatusUnauthorized, sso.CodeInvalidCode, "the sign-in code is unknown, used or expired: sign in again")
		}
		account, user = u.Account, u.User
	default:
		u, err := s.checkPassword(r, req.Account, req.User, req.Password)
		if err != nil {
			return err
		}
		account, user = u.Account, u.Name
	}
	u, err := s.store.GetUser(r.Context(), account, user)
	if err != nil {
		return err
	}
	secret, exp, err := s.issueToken(r.Context(), store.Token{ID: newTokenID(), Account: account, User: user, Kind: store.TokenSession, Name: "web console", SignedInAt: s.now()}, consoleTTL)
	if err != nil {
		return err
	}
	csrf := csrfToken(secret)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", Expires: exp, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: csrf, Path: "/", Expires: exp, Secure: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, consoleSession{User: user, Account: account, Groups: u.Groups, CSRFToken: csrf})
	return nil
}

// handleConsoleLogout ends the browser's session: its token is revoked and
// the cookies cleared.
func (s *Server) handleConsoleLogout(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.RevokeToken, userEntity(c.User)); err != nil {
		return err
	}
	if err := s.store.RevokeToken(r.Context(), c.Account, c.User.Name, c.Token.ID); err != nil {
		return err
	}
	for _, name := range []string{sessionCookie, csrfCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: name == sessionCookie, SameSite: http.SameSiteStrictMode})
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// SessionCommand is one command of a session's timeline.
type SessionCommand struct {
	Command    string    `json:"command"`
	ExitCode   *int      `json:"exitCode,omitempty"`
	StartTime  time.Time `json:"startTime"`
	DurationMs int64     `json:"durationMs"`
	CastOffset float64   `json:"castOffset"`
	RunAsUser  string    `json:"runAsUser,omitempty"`
}

// handleSessionCommands lists a session's command events from its stream
// in the built-in log group: the console's command timeline.
func (s *Server) handleSessionCommands(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.session(r, authz.GetSessionLogs, r.PathValue("id"))
	if err != nil {
		return err
	}
	ls, err := s.logStore()
	if err != nil {
		return err
	}
	// The commands are the session's events: reading them takes what
	// reading its group does, the key's permission to decrypt.
	if err := s.mayDecryptGroup(r, ls, OwnLogGroup); err != nil && !errors.Is(err, logstore.ErrNotFound) {
		var ae *apiError
		if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
			return err
		}
	}
	out := []SessionCommand{}
	var after int64
	for {
		evs, err := ls.Events(r.Context(), sess.Account, OwnLogGroup, sess.ID, after, 10000)
		if err != nil && !errors.Is(err, logstore.ErrNotFound) { // no stream yet: no commands
			return logStoreError(err, "log group "+OwnLogGroup)
		}
		for _, e := range evs {
			after = e.ID
			var ev struct {
				EventType  string    `json:"eventType"`
				EventTime  time.Time `json:"eventTime"`
				Command    string    `json:"command"`
				ExitCode   *int      `json:"exitCode"`
				DurationMs int64     `json:"durationMs"`
				CastOffset float64   `json:"castOffset"`
				RunAsUser  string    `json:"runAsUser"`
			}
			// Most events are output: decode only what can be a command.
			if !strings.Contains(e.Message, `"Command"`) || json.Unmarshal([]byte(e.Message), &ev) != nil || ev.EventType != "Command" {
				continue
			}
			out = append(out, SessionCommand{Command: ev.Command, ExitCode: ev.ExitCode, StartTime: ev.EventTime, DurationMs: ev.DurationMs, CastOffset: ev.CastOffset, RunAsUser: ev.RunAsUser})
		}
		if len(evs) < 10000 {
			break
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func isNotFound(err error) bool {
	return err != nil && strings.Contains(err.Error(), logstore.ErrNotFound.Error())
}

// Dashboard is the console's overview of the last days.
type Dashboard struct {
	Days     []DashboardDay   `json:"days"`
	TopUsers []DashboardCount `json:"topUsers"`
	TopNodes []DashboardCount `json:"topNodes"`
	Failed   int              `json:"failed"`
	// Refused counts refused session starts (from the audit trail), for
	// those who may read it; -1 for others.
	Refused int              `json:"refused"`
	Backlog DashboardBacklog `json:"backlog"`
	Disk    DashboardDisk    `json:"disk"`
}

// DashboardDisk is the data directory's free space: the console warns
// when new work is refused for lack of it (diskfull.go).
type DashboardDisk struct {
	Free  uint64 `json:"free"`
	Total uint64 `json:"total"`
	Min   uint64 `json:"min"`
	Low   bool   `json:"low"`
	// Paused counts live sessions paused because their recordings
	// cannot be written.
	Paused int `json:"paused"`
}

// DashboardDay is one day's sessions.
type DashboardDay struct {
	Date     string `json:"date"`
	Sessions int    `json:"sessions"`
	Failed   int    `json:"failed"`
}

// DashboardCount is a user or node and its sessions.
type DashboardCount struct {
	ID       string `json:"id,omitempty"`
	Name     string `json:"name"`
	Sessions int    `json:"sessions"`
}

// DashboardBacklog is what waits for delivery to log destinations.
type DashboardBacklog struct {
	Sessions int   `json:"sessions"`
	Bytes    int64 `json:"bytes"`
}

// handleDashboard aggregates the sessions the caller may describe over
// ?days= (default 30, at most 90).
func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	days := 30
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 90 {
			return errorf(http.StatusBadRequest, api.CodeValidationError, "days: %q must be 1–90", v)
		}
		days = n
	}
	now := s.now().UTC()
	first := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -(days - 1))
	ss, err := s.store.ListSessions(r.Context(), store.SessionFilter{Account: c.Account, Since: first})
	if err != nil {
		return err
	}
	s.listing(r)
	out := Dashboard{Refused: -1}
	byDay := map[string]*DashboardDay{}
	for i := range days {
		d := first.AddDate(0, 0, i).Format(time.DateOnly)
		out.Days = append(out.Days, DashboardDay{Date: d})
	}
	for i := range out.Days {
		byDay[out.Days[i].Date] = &out.Days[i]
	}
	users, nodes := map[string]int{}, map[string]int{}
	nodeNames := map[string]store.Node{} // the sessions' targets, looked up once each
	for _, sess := range ss {
		if e, opts := s.sessionEntity(r.Context(), sess, nodeNames); !s.allowed(r, authz.DescribeSessions, e, opts...) {
			continue
		}
		d := byDay[sess.StartedAt.UTC().Format(time.DateOnly)]
		if d == nil {
			continue
		}
		d.Sessions++
		if sess.Status == store.StatusFailed {
			d.Failed++
			out.Failed++
		}
		users[sess.Owner]++
		nodes[sess.Target]++
	}
	out.TopUsers = top(users, func(k string) DashboardCount { return DashboardCount{Name: k} })
	out.TopNodes = top(nodes, func(k string) DashboardCount {
		return DashboardCount{ID: k, Name: cmp.Or(nodeNames[k].Name, k)}
	})
	if s.allowed(r, authz.LookupAuditEvents, accountEntity(c)) {
		recs, err := s.store.ListAudit(r.Context(), store.AuditFilter{Account: c.Account, Since: first, Action: "POST " + api.PathSessions, Limit: 100000})
		if err != nil {
			return err
		}
		out.Refused = 0
		for _, rec := range recs {
			if rec.Result == "Denied" && rec.Action == "POST "+api.PathSessions {
				out.Refused++
			}
		}
	}
	if s.outbox != nil {
		out.Backlog.Bytes, out.Backlog.Sessions, _ = s.outbox.size(r.Context())
	}
	// What a DiskFull refusal would tell the caller anyway.
	st := s.disk.State()
	out.Disk = DashboardDisk{Free: st.Free, Total: st.Total, Min: st.Min, Low: st.Low, Paused: s.pausedSessions()}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// top returns the ten keys with the most counts, most first.
func top(counts map[string]int, mk func(string) DashboardCount) []DashboardCount {
	out := []DashboardCount{}
	for k, n := range counts {
		d := mk(k)
		d.Sessions = n
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Sessions != out[j].Sessions {
			return out[i].Sessions > out[j].Sessions
		}
		return out[i].Name < out[j].Name
	})
	if len(out) > 10 {
		out = out[:10]
	}
	return out
}
