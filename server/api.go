package server

import (
	"bytes"
	"context"
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
	"github.com/postern/postern/cluster"
	"github.com/postern/postern/events"
	"github.com/postern/postern/httpapi"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/nodeinstall"
	"github.com/postern/postern/orgs"
	"github.com/postern/postern/store"
	"github.com/postern/postern/web"
)

// Handler returns the server's HTTP handler: the route table behind the
// guard (package httpapi), every call audited.
func (s *Server) Handler() http.Handler {
	return s.clustered(s.audited(s.guard().Mux(s.routes())))
}

// guard is the API's guard, with the server's authentication, admission
// (a full disk refuses) and error answers.
func (s *Server) guard() *httpapi.Guard {
	return &httpapi.Guard{
		Authenticate: s.authenticate,
		Authenticated: func(r *http.Request, c caller) {
			connAuthenticated(r)
			if ai := auditOf(r); ai != nil {
				ai.account, ai.actor = c.Account, actorARN(c)
			}
		},
		Admit:      s.refuseWhenFull,
		WriteError: s.writeError,
		Unchecked: func(r *http.Request, action authz.Action, refused bool) {
			s.uncheckedRequests.Add(1)
			if refused {
				s.logf("server: BUG: %s tried to answer %s %s without an authorization check; refused", r.Pattern, r.Method, r.URL.Path)
			} else {
				s.logf("server: BUG: %s answered %s %s without checking %s", r.Pattern, r.Method, r.URL.Path, action)
			}
		},
	}
}

// actorARN names the caller in the audit trail: the user, or the role
// and who assumed it (package orgs).
func actorARN(c caller) string {
	if acct, user, ok := orgs.AssumedBy(c.Token); ok {
		return ids.AssumedRoleARN(c.Account, c.User.Name, acct, user)
	}
	return ids.UserARN(c.Account, c.User.Name)
}

// orgs is the organization API (package orgs).
func (s *Server) orgs() *orgs.Handlers {
	return orgs.New(orgs.Deps{
		Store: s.store, Now: s.now, Logf: s.logf,
		Authorize: func(r *http.Request, action authz.Action, resource authz.Entity) error {
			return s.authorize(r, action, resource)
		},
		IssueToken: func(ctx context.Context, t store.Token, ttl time.Duration) (string, time.Time, error) {
			t.ID = newTokenID()
			return s.issueToken(ctx, t, ttl)
		},
		Audit: s.appendAudit,
		CheckArchive: func(ctx context.Context, a orgs.Archive) error {
			if s.cfg.S3 == nil {
				return errors.New("this server has no S3 destination configured")
			}
			return check(ctx, func(ctx context.Context) error {
				return s.cfg.S3.Check(ctx, S3Target{Bucket: a.Bucket, Prefix: a.Prefix})
			})
		},
		ArchiveKey:  s.unwrapArchiveKey,
		LogsBacklog: s.archiveLogsBacklog,
		Changed:     s.configChanged,
		Rollout:     s.applier(),
	})
}

// The API's frame, by its names here.
type (
	route    = httpapi.Route
	caller   = httpapi.Caller
	apiError = httpapi.Error
)

var (
	callerOf  = httpapi.CallerOf
	errorf    = httpapi.Errorf
	writeJSON = httpapi.WriteJSON
	readJSON  = httpapi.ReadJSON
)

// routes is the API. Every route either names the action its handler
// authorizes or says why it needs no user.
func (s *Server) routes() []route {
	rs := append(s.ssoRoutes(), s.orgs().Routes()...)
	rs = append(rs, s.subscriptionRoutes()...)
	rs = append(rs, s.commandRoutes()...)
	install := &nodeinstall.Handler{Downloads: s.cfg.AgentDownloads, CAPEM: s.ca.CertPEM}
	return append(rs, []route{
		{Pattern: "GET /", Public: "the web console's static pages (each API call they make is checked)", Open: web.Handler().ServeHTTP},
		{Pattern: "POST /{$}", Public: "the AWS-compatible APIs (X-Amz-Target): Signature Version 4 with an access key; each operation authorized by the same policies (awsapi.go)", Open: s.handleAWS},
		{Pattern: "POST " + cluster.ReleasePath, Public: "a server sharing the database asks this one to let go of a node that dialled it; refused unless its certificate is a peer's of the cluster's CA (cluster.FromPeer)", Open: s.handleRelease},
		{Pattern: "POST " + peerCommandStartPath, Public: "a server sharing the database starts a command's invocation on a node connected here; refused unless its certificate is a peer's (peerRequest), and decided as a session start of the command's sender", Open: s.handlePeerCommandStart},
		{Pattern: "POST " + peerCommandStopPath, Public: "a server sharing the database ends an invocation's session relayed here; refused unless its certificate is a peer's (peerRequest)", Open: s.handlePeerCommandStop},
		{Pattern: "GET " + cluster.InstancePath, Public: "says which server this is (its instance name), for the servers sharing its database", Open: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, s.instance+"\n") }},
		{Pattern: "GET " + api.PathHealth, Public: "health check: says only ok", Open: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }},
		{Pattern: "POST " + api.PathLogin, Public: "signs in with a password (rate limited)", Open: s.guard().Public(s.login)},
		{Pattern: "POST " + api.PathRefresh, Public: "trades a refresh token", Open: s.guard().Public(s.refresh)},
		{Pattern: "GET " + api.PathConsole + "/config", Public: "says which sign-ins the console offers", Open: s.handleConsoleConfig},
		{Pattern: "POST " + api.PathConsole + "/login", Public: "signs the browser in with a password (rate limited) or a single sign-on code", Open: s.guard().Public(s.consoleLogin)},
		{Pattern: "POST " + api.PathConsole + "/logout", Action: authz.RevokeToken, Handler: s.handleConsoleLogout},
		{Pattern: "GET " + api.PathDashboard, Action: authz.DescribeSessions, Handler: s.handleDashboard},
		{Pattern: "GET " + api.PathSessions + "/{id}/commands", Action: authz.GetSessionLogs, Handler: s.handleSessionCommands},
		{Pattern: "POST " + api.PathRegister, Public: "authenticated by an activation code; authorized as RegisterNode", Open: s.guard().Public(s.register)},
		{Pattern: "GET " + nodeinstall.PathScript, Public: "the node install script: run on a node not yet registered, it trusts nothing of this server until it has checked the CA against the activation's pin (package nodeinstall)", Open: install.Script},
		{Pattern: "GET " + nodeinstall.PathScriptPS, Public: "the Windows node install script: it holds the SHA-256 of the Windows agent build, and the command that runs it holds the script's (package nodeinstall)", Open: install.ScriptPS},
		{Pattern: "GET " + nodeinstall.PathCA, Public: "the CA certificate, which every TLS handshake sends anyway; the install script checks it against the pin", Open: install.CA},
		{Pattern: "GET " + nodeinstall.PathAgent + "{file}", Public: "the agent builds the install script downloads, and their checksums: files the operator put in agentDownloads, read-only", Open: install.Agent},
		{Pattern: "GET " + api.PathAgent, Public: "authenticated by the agent's client certificate", Open: s.handleAgent},
		{Pattern: "GET " + PathSSMDataChannel + "/{id}", Public: "session-manager-plugin's data channel: authenticated by the TokenValue StartSession gave for this session, in its first frame; decided on as a resume of the session (StartSession)", Open: s.handleSSMDataChannel},
		{Pattern: "GET " + api.PathWhoAmI, Action: authz.GetCallerIdentity, Handler: s.handleWhoAmI},
		{Pattern: "POST " + api.PathActivations, Action: authz.CreateActivation, Handler: s.handleCreateActivation},
		{Pattern: "GET " + api.PathActivations, Action: authz.DescribeActivations, Handler: s.handleListActivations},
		{Pattern: "GET " + api.PathNodes, Action: authz.DescribeNodes, Handler: s.handleNodes},
		{Pattern: "DELETE " + api.PathNodes + "/{id}", Action: authz.DeregisterNode, Handler: s.handleDeregisterNode},
		{Pattern: "POST " + api.PathSessions, Action: authz.StartSession, Handler: s.handleStartSession},
		{Pattern: "GET " + api.PathSessions, Action: authz.DescribeSessions, Handler: s.handleListSessions},
		{Pattern: "GET " + api.PathSessions + "/{id}", Action: authz.DescribeSessions, Handler: s.handleGetSession},
		{Pattern: "POST " + api.PathSessions + "/{id}/terminate", Action: authz.TerminateSession, Handler: s.handleTerminate},
		{Pattern: "GET " + api.PathSessions + "/{id}/stream", Action: authz.ResumeSession, Handler: s.handleStream},
		{Pattern: "GET " + api.PathSessions + "/{id}/logs", Action: authz.GetSessionLogs, Handler: s.handleLogs},
		{Pattern: "DELETE " + api.PathSessions + "/{id}/logs", Action: authz.DeleteSessionLogs, Handler: s.handleDeleteLogs},
		{Pattern: "POST " + api.PathSessions + "/{id}/logs/key", Action: authz.GetSessionLogs, Handler: s.handleArtifactKey},
		{Pattern: "GET " + api.PathSessions + "/{id}/forward", Action: authz.ResumeSession, Handler: s.handleForward},
		{Pattern: "GET " + api.PathSessions + "/{id}/desktop", Action: authz.ResumeSession, Handler: s.handleDesktop},
		{Pattern: "GET " + api.PathSessions + "/{id}/connections", Action: authz.GetSessionLogs, Handler: s.handleConnections},
		{Pattern: "GET " + api.PathLogGroups, Action: authz.DescribeLogGroups, Handler: s.handleListLogGroups},
		{Pattern: "POST " + api.PathLogGroups, Action: authz.CreateLogGroup, Handler: s.handleCreateLogGroup},
		{Pattern: "DELETE " + api.PathLogGroups, Action: authz.DeleteLogGroup, Handler: s.handleDeleteLogGroup},
		{Pattern: "PUT " + api.PathLogGroups + "/retention", Action: authz.PutRetentionPolicy, Handler: s.handleSetRetention},
		{Pattern: "GET " + api.PathLogGroups + "/streams", Action: authz.DescribeLogStreams, Handler: s.handleListLogStreams},
		{Pattern: "GET " + api.PathLogGroups + "/events", Action: authz.GetLogEvents, Handler: s.handleLogEvents},
		{Pattern: "GET " + api.PathLogGroups + "/tail", Action: authz.GetLogEvents, Handler: s.handleTail},
		{Pattern: "GET " + api.PathLogGroups + "/query", Action: authz.QueryLogs, Handler: s.handleQuery},
		{Pattern: "GET " + api.PathLogGroups + "/metric-filters", Action: authz.DescribeMetricFilters, Handler: s.handleListMetricFilters},
		{Pattern: "PUT " + api.PathLogGroups + "/metric-filters", Action: authz.PutMetricFilter, Handler: s.handlePutMetricFilter},
		{Pattern: "DELETE " + api.PathLogGroups + "/metric-filters", Action: authz.DeleteMetricFilter, Handler: s.handleDeleteMetricFilter},
		{Pattern: "GET " + api.PathKeys, Action: authz.DescribeKeys, Handler: s.handleListKeys},
		{Pattern: "POST " + api.PathKeys, Action: authz.CreateKey, Handler: s.handleCreateKey},
		{Pattern: "POST " + api.PathKeys + "/{action}", Action: authz.ManageKey, Handler: s.handleKeyAction},
		{Pattern: "GET " + api.PathDocuments, Action: authz.DescribeDocuments, Handler: s.handleListDocuments},
		{Pattern: "POST " + api.PathDocuments, Action: authz.PutDocument, Handler: s.handleCreateDocument},
		{Pattern: "POST " + api.PathDocuments + "/validate", Action: authz.ValidateDocument, Handler: s.handleValidateDocument},
		{Pattern: "GET " + api.PathDocuments + "/{name}", Action: authz.GetDocument, Handler: s.handleGetDocument},
		{Pattern: "DELETE " + api.PathDocuments + "/{name}", Action: authz.DeleteDocument, Handler: s.handleDeleteDocument},
		{Pattern: "GET " + api.PathPreferences, Action: authz.GetPreferences, Handler: s.handleGetPreferences},
		{Pattern: "GET " + api.PathDesktopPreferences, Action: authz.GetPreferences, Handler: s.handleGetDesktopPreferences},
		{Pattern: "PUT " + api.PathDesktopPreferences, Action: authz.UpdatePreferences, Handler: s.handlePutDesktopPreferences},
		{Pattern: "PUT " + api.PathPreferences, Action: authz.UpdatePreferences, Handler: s.handlePutPreferences},
		{Pattern: "GET " + api.PathUsers, Action: authz.DescribeUsers, Handler: s.handleListUsers},
		{Pattern: "POST " + api.PathUsers, Action: authz.CreateUser, Handler: s.handleCreateUser},
		{Pattern: "PATCH " + api.PathUsers + "/{name}", Action: authz.UpdateUser, Handler: s.handleSetUserAttributes},
		{Pattern: "DELETE " + api.PathUsers + "/{name}", Action: authz.DeleteUser, Handler: s.handleDeleteUser},
		{Pattern: "GET " + api.PathUsers + "/{name}/tokens", Action: authz.DescribeTokens, Handler: s.handleListTokens},
		{Pattern: "POST " + api.PathUsers + "/{name}/tokens", Action: authz.CreateToken, Handler: s.handleCreateToken},
		{Pattern: "DELETE " + api.PathUsers + "/{name}/tokens/{id}", Action: authz.RevokeToken, Handler: s.handleRevokeToken},
		// Access keys are credentials as tokens are: the same actions.
		{Pattern: "GET " + api.PathUsers + "/{name}/access-keys", Action: authz.DescribeTokens, Handler: s.handleListAccessKeys},
		{Pattern: "POST " + api.PathUsers + "/{name}/access-keys", Action: authz.CreateToken, Handler: s.handleCreateAccessKey},
		{Pattern: "DELETE " + api.PathUsers + "/{name}/access-keys/{id}", Action: authz.RevokeToken, Handler: s.handleDeleteAccessKey},
		{Pattern: "GET " + api.PathPolicies, Action: authz.DescribePolicies, Handler: s.handleListPolicies},
		{Pattern: "PUT " + api.PathPolicies + "/{id}", Action: authz.PutPolicy, Handler: s.handlePutPolicy},
		{Pattern: "DELETE " + api.PathPolicies + "/{id}", Action: authz.DeletePolicy, Handler: s.handleDeletePolicy},
		{Pattern: "POST " + api.PathPolicies + "/test", Action: authz.TestPolicy, Handler: s.handleTestPolicy},
		{Pattern: "GET " + api.PathAudit, Action: authz.LookupAuditEvents, Handler: s.handleAudit},
		{Pattern: "GET " + api.PathAudit + "/verify", Action: authz.VerifyAuditTrail, Handler: s.handleAuditVerify},
	}...)
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	err = s.diskError(err)
	var ae *apiError
	if !errors.As(err, &ae) && errors.Is(err, store.ErrUnavailable) {
		s.logf("server: %s %s: %v", r.Method, r.URL.Path, err)
		ae = errorf(http.StatusServiceUnavailable, api.CodeDatabaseUnavailable, "the server's database does not answer: sessions already running go on, and new ones can start once it is back; try again shortly")
		ae.RetryAfter = 5
	}
	if ae == nil {
		s.logf("server: %s %s: %v", r.Method, r.URL.Path, err)
		ae = errorf(http.StatusInternalServerError, api.CodeInternalError, "internal error; see the server log")
	}
	// Messages quote what callers sent; most quote it clipped, and none
	// may carry more than maxMessage back.
	ae.Msg = clipTo(ae.Msg, maxMessage)
	if ai := auditOf(r); ai != nil {
		ai.detail = ae.Code + ": " + ae.Msg
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
	}
	writeJSON(w, ae.Status, api.Error{Code: ae.Code, Message: ae.Msg})
}

// authenticate finds the caller of a request by its bearer token, or the
// web console's cookie (which also needs what cookieCheck asks).
func (s *Server) authenticate(r *http.Request) (caller, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	viaCookie := false
	if !ok || tok == "" {
		ck, err := r.Cookie(sessionCookie)
		if err != nil || ck.Value == "" {
			return caller{}, errorf(http.StatusUnauthorized, api.CodeUnauthenticated, "not signed in: run `postern login`")
		}
		tok, viaCookie = ck.Value, true
	}
	c, err := s.tokenCaller(r.Context(), tok)
	if err != nil {
		return caller{}, err
	}
	if viaCookie {
		if err := cookieCheck(r, tok); err != nil {
			return caller{}, err
		}
	}
	return c, nil
}

// tokenCaller is who the token tok (its secret) signs in, or why nobody.
func (s *Server) tokenCaller(ctx context.Context, tok string) (caller, error) {
	t, err := s.store.GetToken(ctx, authn.HashSecret(tok), s.now())
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = errorf(http.StatusUnauthorized, api.CodeUnauthenticated, "your token is unknown, expired or revoked: run `postern login` again")
		}
		return caller{}, err
	}
	if t.Kind == store.TokenRefresh {
		return caller{}, errorf(http.StatusUnauthorized, api.CodeUnauthenticated, "a refresh token only buys a new session token (POST %s)", api.PathRefresh)
	}
	u, err := s.store.GetUser(ctx, t.Account, t.User)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = errorf(http.StatusUnauthorized, api.CodeUnauthenticated, "user %s no longer exists", t.User)
		}
		return caller{}, err
	}
	return caller{Account: t.Account, User: u, Token: t}, nil
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
	if err := s.authorize(r, authz.CreateActivation, accountEntity(c)); err != nil {
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
		return errorf(http.StatusBadRequest, api.CodeValidationError, "registrationLimit: %d is out of range 1–1000", req.RegistrationLimit)
	}
	ttl := 24 * time.Hour
	if req.ExpiresIn != "" {
		d, err := parseDuration(req.ExpiresIn)
		if err != nil || d <= 0 || d > 30*24*time.Hour {
			return errorf(http.StatusBadRequest, api.CodeValidationError, "expiresIn: %q must be a duration between 1s and 30d (e.g. 24h, 7d)", req.ExpiresIn)
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
	if s.chainHasCA() {
		out.CAPin = s.ca.Pin()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// chainHasCA reports whether the certificate chain the server sends holds
// its CA: a pin of the CA verifies only then (a certificate from files,
// say a public CA's, may not carry it).
func (s *Server) chainHasCA() bool {
	for i, raw := range s.cert.Certificate {
		if i > 0 && bytes.Equal(raw, s.ca.Cert.Raw) {
			return true
		}
	}
	return false
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
	if err := s.authorize(r, authz.DescribeActivations, accountEntity(c)); err != nil {
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
		return errorf(http.StatusForbidden, api.CodeInvalidActivation, format, args...)
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
		return errorf(http.StatusForbidden, api.CodeAccessDenied, "activation %s may not register nodes (%s)", a.ID, d.Explain())
	}
	nodeID := ids.NewNode()
	certPEM, serial, err := s.ca.SignClient([]byte(req.CSR), nodeID, 5*365*24*time.Hour)
	if err != nil {
		return errorf(http.StatusBadRequest, api.CodeBadRequest, "invalid certificate request: %v", err)
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
	s.nodeEvent(r.Context(), n, events.NodeRegistered)
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
	elsewhere := s.linkedElsewhere(r.Context())
	out := []api.Node{}
	for _, n := range ns {
		if s.allowed(r, authz.DescribeNodes, nodeEntity(n)) {
			out = append(out, s.apiNode(n, elsewhere))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// apiNode is a node as the API shows it; elsewhere says which nodes are
// connected to other live servers (linkedElsewhere).
func (s *Server) apiNode(n store.Node, elsewhere func(nodeID string) bool) api.Node {
	ac := s.agent(n.ID)
	online, ping, seen := ac != nil || elsewhere(n.ID), "ConnectionLost", n.LastSeen
	if online {
		ping = "Online"
	}
	// The store's time of a connected node is written only now and
	// then; the connection knows the last heartbeat.
	if ac != nil {
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
		return store.Node{}, errorf(http.StatusNotFound, api.CodeTargetNotConnected, "node %s is not registered in account %s: see `postern nodes`", target, account)
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
		return store.Node{}, errorf(http.StatusNotFound, api.CodeTargetNotConnected, "no node named %q: see `postern nodes`", clip(target))
	case 1:
		return match[0], nil
	}
	return store.Node{}, ambiguousNodes(s, target, match)
}
