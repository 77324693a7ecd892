package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authn"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/store"
	"github.com/postern/postern/web"
)

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		if rt.public != "" {
			mux.HandleFunc(rt.pattern, rt.open)
			continue
		}
		mux.Handle(rt.pattern, s.authed(rt.action, rt.handler))
	}
	return s.audited(mux)
}

// route is one endpoint of the API.
type route struct {
	pattern string
	// action is what the route is authorized as; its handler checks it
	// on the resource it names.
	action  authz.Action
	handler func(http.ResponseWriter, *http.Request) error
	// public, for routes that take no user's token, says how the route
	// authenticates instead; open is its handler.
	public string
	open   http.HandlerFunc
}

// routes is the API. Every route either names the action its handler
// authorizes or says why it needs no user.
func (s *Server) routes() []route {
	return append(s.ssoRoutes(), []route{
		{pattern: "GET /", public: "the web console's static pages (each API call they make is checked)", open: web.Handler().ServeHTTP},
		{pattern: "GET " + api.PathHealth, public: "health check: says only ok", open: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }},
		{pattern: "POST " + api.PathLogin, public: "signs in with a password (rate limited)", open: s.public(s.login)},
		{pattern: "POST " + api.PathRefresh, public: "trades a refresh token", open: s.public(s.refresh)},
		{pattern: "GET " + api.PathConsole + "/config", public: "says which sign-ins the console offers", open: s.handleConsoleConfig},
		{pattern: "POST " + api.PathConsole + "/login", public: "signs the browser in with a password (rate limited) or a single sign-on code", open: s.public(s.consoleLogin)},
		{pattern: "POST " + api.PathConsole + "/logout", action: authz.RevokeToken, handler: s.handleConsoleLogout},
		{pattern: "GET " + api.PathDashboard, action: authz.DescribeSessions, handler: s.handleDashboard},
		{pattern: "GET " + api.PathSessions + "/{id}/commands", action: authz.GetSessionLogs, handler: s.handleSessionCommands},
		{pattern: "POST " + api.PathRegister, public: "authenticated by an activation code; authorized as RegisterNode", open: s.public(s.register)},
		{pattern: "GET " + api.PathAgent, public: "authenticated by the agent's client certificate", open: s.handleAgent},
		{pattern: "GET " + api.PathWhoAmI, action: authz.GetCallerIdentity, handler: s.handleWhoAmI},
		{pattern: "POST " + api.PathActivations, action: authz.CreateActivation, handler: s.handleCreateActivation},
		{pattern: "GET " + api.PathActivations, action: authz.DescribeActivations, handler: s.handleListActivations},
		{pattern: "GET " + api.PathNodes, action: authz.DescribeNodes, handler: s.handleNodes},
		{pattern: "POST " + api.PathSessions, action: authz.StartSession, handler: s.handleStartSession},
		{pattern: "GET " + api.PathSessions, action: authz.DescribeSessions, handler: s.handleListSessions},
		{pattern: "GET " + api.PathSessions + "/{id}", action: authz.DescribeSessions, handler: s.handleGetSession},
		{pattern: "POST " + api.PathSessions + "/{id}/terminate", action: authz.TerminateSession, handler: s.handleTerminate},
		{pattern: "GET " + api.PathSessions + "/{id}/stream", action: authz.ResumeSession, handler: s.handleStream},
		{pattern: "GET " + api.PathSessions + "/{id}/logs", action: authz.GetSessionLogs, handler: s.handleLogs},
		{pattern: "DELETE " + api.PathSessions + "/{id}/logs", action: authz.DeleteSessionLogs, handler: s.handleDeleteLogs},
		{pattern: "POST " + api.PathSessions + "/{id}/logs/key", action: authz.GetSessionLogs, handler: s.handleArtifactKey},
		{pattern: "GET " + api.PathSessions + "/{id}/forward", action: authz.ResumeSession, handler: s.handleForward},
		{pattern: "GET " + api.PathSessions + "/{id}/connections", action: authz.GetSessionLogs, handler: s.handleConnections},
		{pattern: "GET " + api.PathLogGroups, action: authz.DescribeLogGroups, handler: s.handleListLogGroups},
		{pattern: "POST " + api.PathLogGroups, action: authz.CreateLogGroup, handler: s.handleCreateLogGroup},
		{pattern: "DELETE " + api.PathLogGroups, action: authz.DeleteLogGroup, handler: s.handleDeleteLogGroup},
		{pattern: "PUT " + api.PathLogGroups + "/retention", action: authz.PutRetentionPolicy, handler: s.handleSetRetention},
		{pattern: "GET " + api.PathLogGroups + "/streams", action: authz.DescribeLogStreams, handler: s.handleListLogStreams},
		{pattern: "GET " + api.PathLogGroups + "/events", action: authz.GetLogEvents, handler: s.handleLogEvents},
		{pattern: "GET " + api.PathLogGroups + "/tail", action: authz.GetLogEvents, handler: s.handleTail},
		{pattern: "GET " + api.PathLogGroups + "/query", action: authz.QueryLogs, handler: s.handleQuery},
		{pattern: "GET " + api.PathLogGroups + "/metric-filters", action: authz.DescribeMetricFilters, handler: s.handleListMetricFilters},
		{pattern: "PUT " + api.PathLogGroups + "/metric-filters", action: authz.PutMetricFilter, handler: s.handlePutMetricFilter},
		{pattern: "DELETE " + api.PathLogGroups + "/metric-filters", action: authz.DeleteMetricFilter, handler: s.handleDeleteMetricFilter},
		{pattern: "GET " + api.PathKeys, action: authz.DescribeKeys, handler: s.handleListKeys},
		{pattern: "POST " + api.PathKeys, action: authz.CreateKey, handler: s.handleCreateKey},
		{pattern: "POST " + api.PathKeys + "/{action}", action: authz.ManageKey, handler: s.handleKeyAction},
		{pattern: "GET " + api.PathDocuments, action: authz.DescribeDocuments, handler: s.handleListDocuments},
		{pattern: "POST " + api.PathDocuments, action: authz.PutDocument, handler: s.handleCreateDocument},
		{pattern: "POST " + api.PathDocuments + "/validate", action: authz.ValidateDocument, handler: s.handleValidateDocument},
		{pattern: "GET " + api.PathDocuments + "/{name}", action: authz.GetDocument, handler: s.handleGetDocument},
		{pattern: "DELETE " + api.PathDocuments + "/{name}", action: authz.DeleteDocument, handler: s.handleDeleteDocument},
		{pattern: "GET " + api.PathPreferences, action: authz.GetPreferences, handler: s.handleGetPreferences},
		{pattern: "PUT " + api.PathPreferences, action: authz.UpdatePreferences, handler: s.handlePutPreferences},
		{pattern: "GET " + api.PathUsers, action: authz.DescribeUsers, handler: s.handleListUsers},
		{pattern: "POST " + api.PathUsers, action: authz.CreateUser, handler: s.handleCreateUser},
		{pattern: "PATCH " + api.PathUsers + "/{name}", action: authz.UpdateUser, handler: s.handleSetUserAttributes},
		{pattern: "DELETE " + api.PathUsers + "/{name}", action: authz.DeleteUser, handler: s.handleDeleteUser},
		{pattern: "GET " + api.PathUsers + "/{name}/tokens", action: authz.DescribeTokens, handler: s.handleListTokens},
		{pattern: "POST " + api.PathUsers + "/{name}/tokens", action: authz.CreateToken, handler: s.handleCreateToken},
		{pattern: "DELETE " + api.PathUsers + "/{name}/tokens/{id}", action: authz.RevokeToken, handler: s.handleRevokeToken},
		{pattern: "GET " + api.PathPolicies, action: authz.DescribePolicies, handler: s.handleListPolicies},
		{pattern: "PUT " + api.PathPolicies + "/{id}", action: authz.PutPolicy, handler: s.handlePutPolicy},
		{pattern: "DELETE " + api.PathPolicies + "/{id}", action: authz.DeletePolicy, handler: s.handleDeletePolicy},
		{pattern: "POST " + api.PathPolicies + "/test", action: authz.TestPolicy, handler: s.handleTestPolicy},
		{pattern: "GET " + api.PathAudit, action: authz.LookupAuditEvents, handler: s.handleAudit},
		{pattern: "GET " + api.PathAudit + "/verify", action: authz.VerifyAuditTrail, handler: s.handleAuditVerify},
	}...)
}

// caller is the authenticated user of a request.
type caller struct {
	Account string
	User    store.User
	Token   store.Token
	// mark is set when the request's authorization has been checked.
	mark *authzMark
}

type ctxKey struct{}

func callerOf(r *http.Request) caller { return r.Context().Value(ctxKey{}).(caller) }

// apiError is an error with an HTTP status and a code for the API body.
type apiError struct {
	status int
	code   string
	msg    string
	// retryAfter, when set, is sent as Retry-After (seconds).
	retryAfter int
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	err = s.diskError(err)
	var ae *apiError
	if !errors.As(err, &ae) {
		s.logf("server: %s %s: %v", r.Method, r.URL.Path, err)
		ae = errorf(http.StatusInternalServerError, "InternalError", "internal error; see the server log")
	}
	// Messages quote what callers sent; most quote it clipped, and none
	// may carry more than maxMessage back.
	ae.msg = clipTo(ae.msg, maxMessage)
	if ai := auditOf(r); ai != nil {
		ai.detail = ae.code + ": " + ae.msg
	}
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.retryAfter))
	}
	writeJSON(w, ae.status, api.Error{Code: ae.code, Message: ae.msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// readJSON decodes a request body, rejecting unknown fields so typos in
// automation surface instead of being ignored.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "BadRequest", "invalid request body: %v", err)
	}
	return nil
}

// authed wraps a handler that needs a signed-in user (Authorization:
// Bearer), authorized as action. Its response is held back until the
// handler has checked authorization: one that forgot answers 500, never
// the resource.
func (s *Server) authed(action authz.Action, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.authenticate(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		connAuthenticated(r)
		if ai := auditOf(r); ai != nil {
			ai.account, ai.actor = c.Account, ids.UserARN(c.Account, c.User.Name)
		}
		if len(c.Token.Scopes) > 0 && !slices.Contains(c.Token.Scopes, string(action)) {
			s.writeError(w, r, errorf(http.StatusForbidden, "AccessDenied", "%s's token %s may not %s: its scopes are %v", c.User.Name, c.Token.ID, action, c.Token.Scopes))
			return
		}
		if err := s.refuseWhenFull(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		c.mark = &authzMark{}
		gw := &guardWriter{ResponseWriter: w, mark: c.mark, s: s, r: r}
		ctx := context.WithValue(r.Context(), ctxKey{}, c)
		if err := h(gw, r.WithContext(ctx)); err != nil {
			s.writeError(gw, r, err)
		}
		if !c.mark.checked.Load() && gw.status == 0 {
			s.uncheckedRequests.Add(1)
			s.logf("server: BUG: %s answered %s %s without checking %s", r.Pattern, r.Method, r.URL.Path, action)
		}
	})
}

// public adapts a handler of a route that takes no user's token.
func (s *Server) public(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := s.refuseWhenFull(r)
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	}
}

// authenticate finds the caller of a request by its bearer token, or the
// web console's cookie (which also needs what cookieCheck asks).
func (s *Server) authenticate(r *http.Request) (caller, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	viaCookie := false
	if !ok || tok == "" {
		ck, err := r.Cookie(sessionCookie)
		if err != nil || ck.Value == "" {
			return caller{}, errorf(http.StatusUnauthorized, "Unauthenticated", "not signed in: run `postern login`")
		}
		tok, viaCookie = ck.Value, true
	}
	t, err := s.store.GetToken(r.Context(), authn.HashSecret(tok), s.now())
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = errorf(http.StatusUnauthorized, "Unauthenticated", "your token is unknown, expired or revoked: run `postern login` again")
		}
		return caller{}, err
	}
	if t.Kind == store.TokenRefresh {
		return caller{}, errorf(http.StatusUnauthorized, "Unauthenticated", "a refresh token only buys a new session token (POST %s)", api.PathRefresh)
	}
	if viaCookie {
		if err := cookieCheck(r, tok); err != nil {
			return caller{}, err
		}
	}
	u, err := s.store.GetUser(r.Context(), t.Account, t.User)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = errorf(http.StatusUnauthorized, "Unauthenticated", "user %s no longer exists", t.User)
		}
		return caller{}, err
	}
	return caller{Account: t.Account, User: u, Token: t}, nil
}

// guardWriter holds back a response until the request's authorization was
// checked. Errors pass (they say nothing the caller may not know: a
// handler refuses bad input or missing things before it can name a
// resource), as do responses after a check.
type guardWriter struct {
	http.ResponseWriter
	mark    *authzMark
	s       *Server
	r       *http.Request
	refused bool // the guard answered instead of the handler
	status  int  // what the handler wrote, once it has
}

func (w *guardWriter) ok(status int) bool {
	if w.refused {
		return false
	}
	if w.status == 0 {
		w.status = status
	}
	if w.status >= 400 || w.mark.checked.Load() {
		return true
	}
	w.refused = true
	w.s.uncheckedRequests.Add(1)
	w.s.logf("server: BUG: %s tried to answer %s %s without an authorization check; refused", w.r.Pattern, w.r.Method, w.r.URL.Path)
	writeJSON(w.ResponseWriter, http.StatusInternalServerError, api.Error{Code: "InternalError", Message: "internal error: the server did not check this request's authorization"})
	return false
}

func (w *guardWriter) WriteHeader(code int) {
	if w.ok(code) {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *guardWriter) Write(b []byte) (int, error) {
	if !w.ok(http.StatusOK) {
		return 0, errUnchecked
	}
	return w.ResponseWriter.Write(b)
}

func (w *guardWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *guardWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && w.ok(http.StatusOK) {
		f.Flush()
	}
}

func (w *guardWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.ok(http.StatusSwitchingProtocols) {
		return nil, nil, errUnchecked
	}
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("server: connection cannot be hijacked")
	}
	return h.Hijack()
}

func (s *Server) handleWhoAmI(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.GetCallerIdentity, userEntity(c.User)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.WhoAmI{
		Account: c.Account, User: c.User.Name, ARN: ids.UserARN(c.Account, c.User.Name),
		Admin: slices.Contains(c.User.Groups, authz.Administrators), Groups: c.User.Groups, RunAs: c.User.RunAs,
		TokenID: c.Token.ID, Scopes: c.Token.Scopes,
	})
	return nil
}

// parseDuration accepts Go durations and whole days ("30d").
func parseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

func (s *Server) handleCreateActivation(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.CreateActivation, c.account()); err != nil {
		return err
	}
	var req api.CreateActivationRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.RegistrationLimit == 0 {
		req.RegistrationLimit = 1
	}
	if req.RegistrationLimit < 1 || req.RegistrationLimit > 1000 {
		return errorf(http.StatusBadRequest, "ValidationError", "registrationLimit: %d is out of range 1–1000", req.RegistrationLimit)
	}
	ttl := 24 * time.Hour
	if req.ExpiresIn != "" {
		d, err := parseDuration(req.ExpiresIn)
		if err != nil || d <= 0 || d > 30*24*time.Hour {
			return errorf(http.StatusBadRequest, "ValidationError", "expiresIn: %q must be a duration between 1s and 30d (e.g. 24h, 7d)", req.ExpiresIn)
		}
		ttl = d
	}
	code := authn.NewSecret("")
	now := s.now()
	a := store.Activation{
		ID: newUUID(), Account: c.Account, CodeHash: authn.HashSecret(code),
		Description: req.Description, DefaultName: req.DefaultName, Tags: req.Tags,
		RegistrationLimit: req.RegistrationLimit, ExpiresAt: now.Add(ttl), CreatedAt: now,
	}
	if err := s.store.CreateActivation(r.Context(), a); err != nil {
		return err
	}
	out := apiActivation(a, now)
	out.Code = code
	out.CAPin = s.ca.Pin()
	writeJSON(w, http.StatusOK, out)
	return nil
}

func apiActivation(a store.Activation, now time.Time) api.Activation {
	return api.Activation{
		ID: a.ID, Description: a.Description, DefaultName: a.DefaultName,
		RegistrationLimit: a.RegistrationLimit, RegistrationCount: a.RegistrationCount,
		ExpiresAt: a.ExpiresAt, Expired: !now.Before(a.ExpiresAt), Tags: a.Tags, CreatedAt: a.CreatedAt,
	}
}

func (s *Server) handleListActivations(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.DescribeActivations, c.account()); err != nil {
		return err
	}
	as, err := s.store.ListActivations(r.Context(), c.Account)
	if err != nil {
		return err
	}
	out := []api.Activation{}
	for _, a := range as {
		out = append(out, apiActivation(a, s.now()))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) error {
	var req api.RegisterRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := checkRegistration(req); err != nil {
		return err
	}
	refused := func(format string, args ...any) error {
		return errorf(http.StatusForbidden, "InvalidActivation", format, args...)
	}
	a, err := s.store.GetActivation(r.Context(), req.ActivationID)
	if errors.Is(err, store.ErrNotFound) {
		return refused("activation %s does not exist: check the --id you were given", clip(req.ActivationID))
	} else if err != nil {
		return err
	}
	if !authn.EqualHash(a.CodeHash, authn.HashSecret(req.ActivationCode)) {
		return refused("the activation code does not match activation %s: check the --code you were given", clip(req.ActivationID))
	}
	// The activation's tags win over the ones the node brings: they are
	// what an administrator decided, and policies grant access by tag
	// (a node registered with an env=prod activation cannot call itself
	// env=dev).
	tags := map[string]string{}
	for k, v := range req.Tags {
		tags[k] = v
	}
	for k, v := range a.Tags {
		tags[k] = v
	}
	if ai := auditOf(r); ai != nil {
		ai.account, ai.actor = a.Account, "activation/"+a.ID
	}
	ps, err := s.policies(r.Context(), a.Account)
	if err != nil {
		return err
	}
	d := ps.Decide(authz.Request{
		Principal: authz.Entity{Type: "Activation", ID: a.ID, Account: a.Account, Tags: a.Tags},
		Action:    authz.RegisterNode, Resource: authz.AccountEntity(a.Account),
		Context: map[string]string{"name": req.Name, "hostname": req.Hostname},
	})
	if !d.Allowed {
		return errorf(http.StatusForbidden, "AccessDenied", "activation %s may not register nodes (%s)", a.ID, d.Explain())
	}
	nodeID := ids.NewNode()
	certPEM, serial, err := s.ca.SignClient([]byte(req.CSR), nodeID, 5*365*24*time.Hour)
	if err != nil {
		return errorf(http.StatusBadRequest, "BadRequest", "invalid certificate request: %v", err)
	}
	name := req.Name
	if name == "" {
		name = a.DefaultName
	}
	if name == "" {
		name = req.Hostname
	}
	ip := req.IP
	if ip == "" {
		ip, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	// One registration at a time picks a name, so two cannot take the
	// same free one.
	s.registerMu.Lock()
	defer s.registerMu.Unlock()
	asked := name
	name, holder, err := s.uniqueNodeName(r.Context(), a.Account, name)
	if err != nil {
		return err
	}
	renamed := ""
	if holder != "" {
		renamed = fmt.Sprintf("the name %s belongs to node %s, so this node is %s (postern-agent register --name picks another)", asked, holder, name)
	}
	now := s.now()
	n := store.Node{
		ID: nodeID, Account: a.Account, Name: name, Hostname: req.Hostname, OS: req.OS,
		Platform: req.Platform, AgentVersion: req.AgentVersion, IP: ip, Tags: tags,
		ActivationID: a.ID, CertSerial: serial, RegisteredAt: now,
	}
	switch err := s.store.RegisterNode(r.Context(), a.ID, n, now); {
	case errors.Is(err, store.ErrExpired):
		return refused("activation %s expired at %s: create a new one with `postern activations create`", a.ID, a.ExpiresAt.UTC().Format(time.RFC3339))
	case errors.Is(err, store.ErrExhausted):
		return refused("activation %s has reached its registration limit of %d: create a new one with `postern activations create --count N`", a.ID, a.RegistrationLimit)
	case errors.Is(err, store.ErrNotFound):
		return refused("activation %s does not exist", a.ID)
	case err != nil:
		return err
	}
	s.logf("server: node %s (%s) registered with activation %s", nodeID, name, a.ID)
	if renamed != "" {
		s.logf("server: node %s: %s", nodeID, renamed)
	}
	writeJSON(w, http.StatusOK, api.RegisterResponse{NodeID: nodeID, Name: name, Renamed: renamed, Certificate: string(certPEM), CA: string(s.ca.CertPEM)})
	return nil
}

func (s *Server) handleNodes(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ns, err := s.store.ListNodes(r.Context(), c.Account)
	if err != nil {
		return err
	}
	s.listing(r)
	out := []api.Node{}
	for _, n := range ns {
		if s.allowed(r, authz.DescribeNodes, nodeEntity(n)) {
			out = append(out, s.apiNode(n))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) apiNode(n store.Node) api.Node {
	ac := s.agent(n.ID)
	online, ping, seen := ac != nil, "ConnectionLost", n.LastSeen
	if online {
		ping = "Online"
		// The store's time of a connected node is written only now and
		// then; the connection knows the last heartbeat.
		if t := ac.lastSeen(); t.After(seen) {
			seen = t
		}
	}
	return api.Node{
		ID: n.ID, Name: n.Name, Hostname: n.Hostname, OS: n.OS, Platform: n.Platform,
		AgentVersion: n.AgentVersion, IP: n.IP, Tags: n.Tags, Online: online, PingStatus: ping,
		LastSeen: seen, RegisteredAt: n.RegisteredAt,
	}
}

// resolveNode finds a node of the account by id or by name.
func (s *Server) resolveNode(ctx context.Context, account, target string) (store.Node, error) {
	if ids.ValidNode(target) {
		n, err := s.store.GetNode(ctx, target)
		if err == nil && n.Account == account {
			return n, nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Node{}, err
		}
		return store.Node{}, errorf(http.StatusNotFound, "TargetNotConnected", "node %s is not registered in account %s: see `postern nodes`", target, account)
	}
	ns, err := s.store.ListNodes(ctx, account)
	if err != nil {
		return store.Node{}, err
	}
	// Names are unique in an account, so a name leads to one node. A
	// hostname is what a node says it is: it leads to a node only if no
	// other says the same.
	var match []store.Node
	for _, n := range ns {
		if n.Name == target {
			return n, nil
		}
		if n.Hostname == target {
			match = append(match, n)
		}
	}
	switch len(match) {
	case 0:
		return store.Node{}, errorf(http.StatusNotFound, "TargetNotConnected", "no node named %q: see `postern nodes`", clip(target))
	case 1:
		return match[0], nil
	}
	return store.Node{}, ambiguousNodes(s, target, match)
}
