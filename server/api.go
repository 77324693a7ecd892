package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authn"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/store"
)

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathHealth, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("POST "+api.PathLogin, s.handleLogin)
	mux.HandleFunc("POST "+api.PathRegister, s.handleRegister)
	mux.HandleFunc("GET "+api.PathAgent, s.handleAgent)
	mux.Handle("GET "+api.PathWhoAmI, s.authed(s.handleWhoAmI))
	mux.Handle("POST "+api.PathActivations, s.authed(s.handleCreateActivation))
	mux.Handle("GET "+api.PathActivations, s.authed(s.handleListActivations))
	mux.Handle("GET "+api.PathNodes, s.authed(s.handleNodes))
	mux.Handle("POST "+api.PathSessions, s.authed(s.handleStartSession))
	mux.Handle("GET "+api.PathSessions, s.authed(s.handleListSessions))
	mux.Handle("GET "+api.PathSessions+"/{id}", s.authed(s.handleGetSession))
	mux.Handle("POST "+api.PathSessions+"/{id}/terminate", s.authed(s.handleTerminate))
	mux.Handle("GET "+api.PathSessions+"/{id}/stream", s.authed(s.handleStream))
	mux.Handle("GET "+api.PathSessions+"/{id}/logs", s.authed(s.handleLogs))
	mux.Handle("DELETE "+api.PathSessions+"/{id}/logs", s.authed(s.handleDeleteLogs))
	mux.Handle("POST "+api.PathSessions+"/{id}/logs/key", s.authed(s.handleArtifactKey))
	mux.Handle("GET "+api.PathSessions+"/{id}/forward", s.authed(s.handleForward))
	mux.Handle("GET "+api.PathLogGroups, s.authed(s.handleListLogGroups))
	mux.Handle("POST "+api.PathLogGroups, s.authed(s.handleCreateLogGroup))
	mux.Handle("DELETE "+api.PathLogGroups, s.authed(s.handleDeleteLogGroup))
	mux.Handle("PUT "+api.PathLogGroups+"/retention", s.authed(s.handleSetRetention))
	mux.Handle("GET "+api.PathLogGroups+"/streams", s.authed(s.handleListLogStreams))
	mux.Handle("GET "+api.PathLogGroups+"/events", s.authed(s.handleLogEvents))
	mux.Handle("GET "+api.PathLogGroups+"/tail", s.authed(s.handleTail))
	mux.Handle("GET "+api.PathLogGroups+"/query", s.authed(s.handleQuery))
	mux.Handle("GET "+api.PathLogGroups+"/metric-filters", s.authed(s.handleListMetricFilters))
	mux.Handle("PUT "+api.PathLogGroups+"/metric-filters", s.authed(s.handlePutMetricFilter))
	mux.Handle("DELETE "+api.PathLogGroups+"/metric-filters", s.authed(s.handleDeleteMetricFilter))
	mux.Handle("GET "+api.PathKeys, s.authed(s.handleListKeys))
	mux.Handle("POST "+api.PathKeys, s.authed(s.handleCreateKey))
	mux.Handle("POST "+api.PathKeys+"/{action}", s.authed(s.handleKeyAction))
	mux.Handle("GET "+api.PathDocuments, s.authed(s.handleListDocuments))
	mux.Handle("POST "+api.PathDocuments, s.authed(s.handleCreateDocument))
	mux.Handle("POST "+api.PathDocuments+"/validate", s.authed(s.handleValidateDocument))
	mux.Handle("GET "+api.PathDocuments+"/{name}", s.authed(s.handleGetDocument))
	mux.Handle("DELETE "+api.PathDocuments+"/{name}", s.authed(s.handleDeleteDocument))
	mux.Handle("GET "+api.PathPreferences, s.authed(s.handleGetPreferences))
	mux.Handle("PUT "+api.PathPreferences, s.authed(s.handlePutPreferences))
	mux.Handle("PATCH "+api.PathUsers+"/{name}", s.authed(s.handleSetUserAttributes))
	mux.Handle("GET "+api.PathAudit, s.authed(s.handleAudit))
	mux.Handle("GET "+api.PathAudit+"/verify", s.authed(s.handleAuditVerify))
	return s.audited(mux)
}

// caller is the authenticated user of a request.
type caller struct {
	Account string
	User    store.User
}

type ctxKey struct{}

func callerOf(r *http.Request) caller { return r.Context().Value(ctxKey{}).(caller) }

// apiError is an error with an HTTP status and a code for the API body.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.logf("server: %s %s: %v", r.Method, r.URL.Path, err)
		ae = errorf(http.StatusInternalServerError, "InternalError", "internal error; see the server log")
	}
	if ai := auditOf(r); ai != nil {
		ai.detail = ae.code + ": " + ae.msg
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

// authed wraps a handler that needs a signed-in user (Authorization: Bearer).
func (s *Server) authed(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			s.writeError(w, r, errorf(http.StatusUnauthorized, "Unauthenticated", "not signed in: run `postern login`"))
			return
		}
		t, err := s.store.GetToken(r.Context(), authn.HashSecret(tok), s.now())
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				err = errorf(http.StatusUnauthorized, "Unauthenticated", "your token is unknown or expired: run `postern login` again")
			}
			s.writeError(w, r, err)
			return
		}
		u, err := s.store.GetUser(r.Context(), t.Account, t.User)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				err = errorf(http.StatusUnauthorized, "Unauthenticated", "user %s no longer exists", t.User)
			}
			s.writeError(w, r, err)
			return
		}
		if ai := auditOf(r); ai != nil {
			ai.account, ai.actor = t.Account, ids.UserARN(t.Account, u.Name)
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, caller{Account: t.Account, User: u})
		if err := h(w, r.WithContext(ctx)); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func requireAdmin(c caller, what string) error {
	if !c.User.Admin {
		return errorf(http.StatusForbidden, "AccessDenied", "%s is not allowed to %s: an administrator must do it", c.User.Name, what)
	}
	return nil
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req api.LoginRequest
	if err := readJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	account := req.Account
	if account == "" {
		account = store.DefaultAccount
	}
	denied := errorf(http.StatusUnauthorized, "AuthenticationFailed", "wrong user name or password")
	u, err := s.store.GetUser(r.Context(), account, req.User)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			// Spend the same time as a real check, so response timing
			// does not reveal which users exist.
			authn.CheckPassword(dummyHash, req.Password)
			err = denied
		}
		s.writeError(w, r, err)
		return
	}
	if u.PasswordHash == "" || authn.CheckPassword(u.PasswordHash, req.Password) != nil {
		s.writeError(w, r, denied)
		return
	}
	secret, exp, err := s.IssueToken(r.Context(), account, u.Name, s.cfg.TokenTTL)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.LoginResponse{Token: secret, ExpiresAt: exp, Account: account, User: u.Name})
}

var dummyHash, _ = authn.HashPassword("postern-timing-equalizer")

// IssueToken creates an API token for a user.
func (s *Server) IssueToken(ctx context.Context, account, user string, ttl time.Duration) (string, time.Time, error) {
	secret := authn.NewSecret("pst_")
	now := s.now()
	t := store.Token{Hash: authn.HashSecret(secret), Account: account, User: user, CreatedAt: now}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl)
	}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return "", time.Time{}, err
	}
	return secret, t.ExpiresAt, nil
}

func (s *Server) handleWhoAmI(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	writeJSON(w, http.StatusOK, api.WhoAmI{Account: c.Account, User: c.User.Name, ARN: ids.UserARN(c.Account, c.User.Name), Admin: c.User.Admin})
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
	if err := requireAdmin(c, "create activations"); err != nil {
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
	if err := requireAdmin(c, "list activations"); err != nil {
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

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	if err := s.register(w, r); err != nil {
		s.writeError(w, r, err)
	}
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) error {
	var req api.RegisterRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	refused := func(format string, args ...any) error {
		return errorf(http.StatusForbidden, "InvalidActivation", format, args...)
	}
	a, err := s.store.GetActivation(r.Context(), req.ActivationID)
	if errors.Is(err, store.ErrNotFound) {
		return refused("activation %s does not exist: check the --id you were given", req.ActivationID)
	} else if err != nil {
		return err
	}
	if !authn.EqualHash(a.CodeHash, authn.HashSecret(req.ActivationCode)) {
		return refused("the activation code does not match activation %s: check the --code you were given", req.ActivationID)
	}
	nodeID := ids.NewNode()
	certPEM, serial, err := s.ca.SignClient([]byte(req.CSR), nodeID, 5*365*24*time.Hour)
	if err != nil {
		return errorf(http.StatusBadRequest, "BadRequest", "invalid certificate request: %v", err)
	}
	tags := map[string]string{}
	for k, v := range a.Tags {
		tags[k] = v
	}
	for k, v := range req.Tags {
		tags[k] = v
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
	writeJSON(w, http.StatusOK, api.RegisterResponse{NodeID: nodeID, Certificate: string(certPEM), CA: string(s.ca.CertPEM)})
	return nil
}

func (s *Server) handleNodes(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ns, err := s.store.ListNodes(r.Context(), c.Account)
	if err != nil {
		return err
	}
	out := []api.Node{}
	for _, n := range ns {
		out = append(out, s.apiNode(n))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) apiNode(n store.Node) api.Node {
	online := s.agent(n.ID) != nil
	ping := "ConnectionLost"
	if online {
		ping = "Online"
	}
	return api.Node{
		ID: n.ID, Name: n.Name, Hostname: n.Hostname, OS: n.OS, Platform: n.Platform,
		AgentVersion: n.AgentVersion, IP: n.IP, Tags: n.Tags, Online: online, PingStatus: ping,
		LastSeen: n.LastSeen, RegisteredAt: n.RegisteredAt,
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
	var match []store.Node
	for _, n := range ns {
		if n.Name == target || n.Hostname == target {
			match = append(match, n)
		}
	}
	switch len(match) {
	case 0:
		return store.Node{}, errorf(http.StatusNotFound, "TargetNotConnected", "no node named %q: see `postern nodes`", target)
	case 1:
		return match[0], nil
	}
	// Several registrations of the same host: prefer the one online.
	for _, n := range match {
		if s.agent(n.ID) != nil {
			return n, nil
		}
	}
	return store.Node{}, errorf(http.StatusConflict, "AmbiguousTarget", "%d nodes are named %q and none is online: use the node id (see `postern nodes`)", len(match), target)
}
