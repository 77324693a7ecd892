// Package sso signs people in to Postern through an OpenID Connect identity
// provider (Okta, Entra ID, Google, Keycloak, Dex, ...). The Postern server
// is the relying party: it runs the authorization code flow with PKCE, checks
// the ID token with go-oidc, maps the provider's groups onto Postern's, and
// hands the token it then issues to the CLI or web console through a
// one-time code (Handoffs), so no Postern token ever travels in a URL. Each
// login is bound to the browser that started it (a cookie) and its code to
// the client that redeems it (a PKCE-like verifier): see binding.go.
//
// The package knows nothing of the server: Routes serves the three
// endpoints, and the server supplies an Issue function that turns a verified
// Identity into its own token.
package sso

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/postern/postern/ids"
	"github.com/postern/postern/logger"
)

// Config is the server's `sso:` configuration section.
type Config struct {
	// Issuer is the provider's issuer URL, exactly as its discovery
	// document (<issuer>/.well-known/openid-configuration) spells it.
	Issuer string `json:"issuer" yaml:"issuer"`
	// ClientID and ClientSecret are Postern's registration at the
	// provider. The secret may be empty for a public client: PKCE still
	// binds the code to this server.
	ClientID     string `json:"clientId" yaml:"clientId"`
	ClientSecret string `json:"clientSecret,omitempty" yaml:"clientSecret,omitempty"`
	// RedirectURL is the server's callback as registered at the provider,
	// e.g. https://postern.example.com/v1/sso/callback.
	RedirectURL string `json:"redirectUrl" yaml:"redirectUrl"`
	// Scopes requested; default openid, profile, email, groups. Must
	// include openid.
	Scopes []string `json:"scopes,omitempty" yaml:"scopes,omitempty"`
	// GroupsClaim is the ID token claim listing the user's groups at the
	// provider; default "groups".
	GroupsClaim string `json:"groupsClaim,omitempty" yaml:"groupsClaim,omitempty"`
	// UsernameClaim is the ID token claim that becomes the Postern user
	// name. Left empty it is preferred_username, falling back to a
	// verified email and then to sub. Set, that claim is required: an
	// administrator who names a claim wants that namespace, and falling
	// back to another could map one person onto someone else's name.
	UsernameClaim string `json:"usernameClaim,omitempty" yaml:"usernameClaim,omitempty"`
	// GroupMap maps provider groups to Postern groups, e.g. "eng-oncall":
	// ["operators"]. Provider groups not in the map are dropped, so a
	// group created at the provider grants nothing in Postern until an
	// administrator maps it.
	GroupMap map[string][]string `json:"groupMap,omitempty" yaml:"groupMap,omitempty"`
	// AllowedGroups, when not empty, admits only members of at least one
	// of these provider groups; empty admits everyone the provider
	// authenticates (what they may do is still up to their groups).
	AllowedGroups []string `json:"allowedGroups,omitempty" yaml:"allowedGroups,omitempty"`
}

// Defaults of Config.
const (
	DefaultGroupsClaim   = "groups"
	DefaultUsernameClaim = "preferred_username"
)

// DefaultScopes are the scopes requested when Config.Scopes is empty.
var DefaultScopes = []string{oidc.ScopeOpenID, "profile", "email", "groups"}

func (c Config) withDefaults() Config {
	if len(c.Scopes) == 0 {
		c.Scopes = slices.Clone(DefaultScopes)
	}
	c.GroupsClaim = cmp.Or(c.GroupsClaim, DefaultGroupsClaim)
	c.UsernameClaim = cmp.Or(c.UsernameClaim, DefaultUsernameClaim)
	return c
}

// Validate reports everything wrong with the configuration at once, so an
// administrator fixes the file in one go.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("sso: "+format, args...))
	}
	if c.Issuer == "" {
		bad("issuer is required")
	} else if err := checkServiceURL(c.Issuer); err != nil {
		bad("issuer %q %v", c.Issuer, err)
	}
	if c.ClientID == "" {
		bad("clientId is required")
	}
	if c.RedirectURL == "" {
		bad("redirectUrl is required (the server's /v1/sso/callback, as registered at the provider)")
	} else if err := checkServiceURL(c.RedirectURL); err != nil {
		bad("redirectUrl %q %v", c.RedirectURL, err)
	}
	if len(c.Scopes) > 0 && !slices.Contains(c.Scopes, oidc.ScopeOpenID) {
		bad("scopes %q must include %q", c.Scopes, oidc.ScopeOpenID)
	}
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			bad("scope %q is not a single word", s)
		}
	}
	for from, to := range c.GroupMap {
		if from == "" {
			bad("groupMap has an empty provider group")
		}
		for _, g := range to {
			if strings.TrimSpace(g) == "" {
				bad("groupMap[%q] has an empty Postern group", from)
			}
		}
	}
	for _, g := range c.AllowedGroups {
		if g == "" {
			bad("allowedGroups has an empty group")
		}
	}
	return errors.Join(errs...)
}

// checkServiceURL checks the issuer or the server's callback: https, or http
// on a loopback address for a provider or server on the same machine (a
// development setup, or a test).
func checkServiceURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("is not a URL: %w", err)
	}
	switch {
	case u.Host == "":
		return errors.New("must be an absolute https:// URL")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return errors.New("must not have a #fragment")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return nil
	}
	return errors.New("must be an https:// URL (http:// only on a loopback address)")
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Identity is who the provider says signed in.
type Identity struct {
	Issuer  string // the provider's issuer URL
	Subject string // the provider's stable id of the user (sub); with Issuer, what to find the user by
	// Username is the Postern user name from the configured claim; it is
	// a valid user name (ids.ValidUser) but, unlike Issuer+Subject, may
	// be reassigned at the provider.
	Username string
	Email    string   // the email, only when the provider says it is verified
	Groups   []string // Postern groups after GroupMap; sorted, deduplicated
}

// Options are the Provider's dependencies.
type Options struct {
	Now        func() time.Time // default time.Now; expires logins and checks token expiry
	HTTPClient *http.Client     // talks to the provider; default a client with a 30 s timeout
	Logf       logger.Logf      // default discards
}

// Errors of Finish. Each is wrapped with the detail; test with errors.Is.
var (
	ErrUnknownState = errors.New("sso: unknown login state (not started here, or already forgotten)")
	ErrStateReused  = errors.New("sso: login state already used")
	ErrStateExpired = errors.New("sso: login expired (more than 10 minutes since it started)")
	ErrNoCode       = errors.New("sso: the provider's redirect carries no authorization code")
	ErrExchange     = errors.New("sso: exchange code")
	ErrNoIDToken    = errors.New("sso: the provider's token response has no id_token")

	ErrTokenSignature = errors.New("sso: ID token signature does not verify")
	ErrTokenIssuer    = errors.New("sso: ID token is from another issuer")
	ErrTokenAudience  = errors.New("sso: ID token is for another client (audience)")
	ErrTokenExpired   = errors.New("sso: ID token expired")
	ErrTokenNonce     = errors.New("sso: ID token nonce does not match the login")
	ErrTokenInvalid   = errors.New("sso: ID token invalid")

	ErrMissingUsername = errors.New("sso: no username claim")
	ErrInvalidUsername = errors.New("sso: username is not a valid Postern user name")
	ErrBadGroupsClaim  = errors.New("sso: groups claim is not a list of strings")
	ErrNotAllowed      = errors.New("sso: not in any allowed group")
)

// tokenErrors are the ID token verification failures.
var tokenErrors = []error{ErrTokenSignature, ErrTokenIssuer, ErrTokenAudience, ErrTokenExpired, ErrTokenNonce, ErrTokenInvalid}

// IdPError is an error the provider sent back instead of a code (RFC 6749
// section 4.1.2.1), such as access_denied when the user declined.
type IdPError struct {
	Code        string // the error parameter
	Description string // error_description; may be empty
}

func (e *IdPError) Error() string {
	if e.Description == "" {
		return "sso: the identity provider refused: " + e.Code
	}
	return fmt.Sprintf("sso: the identity provider refused: %s: %s", e.Code, e.Description)
}

const (
	loginTTL = 10 * time.Minute
	// maxPending bounds the logins in flight. /v1/sso/start needs no
	// credentials, so anyone can fill it: when full the oldest login is
	// dropped, and flooding out a person's login then takes thousands of
	// requests in the seconds they spend at the provider.
	maxPending = 10000
)

// Provider is the relying party for one OIDC provider.
type Provider struct {
	cfg           Config // with defaults
	explicitClaim bool   // cfg.UsernameClaim was set, not defaulted: no fallback
	now           func() time.Time
	logf          logger.Logf
	hc            *http.Client
	oauth         oauth2.Config
	verifier      *oidc.IDTokenVerifier // the check: signature, issuer, audience, expiry
	// sigOnly checks the signature alone. go-oidc reports a wrong issuer
	// or audience as plain text; after verifier refuses a token, sigOnly
	// tells which check failed, so the log and the error say it.
	sigOnly *oidc.IDTokenVerifier

	mu         sync.Mutex
	pending    map[string]*pendingLogin // guarded by mu; by state
	maxPending int                      // a variable so tests can fill it
}

// pendingLogin is a login between Begin and Finish.
type pendingLogin struct {
	nonce, verifier string
	redirect        string // where the user goes afterwards
	// browser is the S256 hash of the binding secret of the browser
	// that started the login: only that browser may finish it.
	browser string
	// challenge is the client's S256 code challenge, which the hand-off
	// code is bound to; empty for the console, bound by browser.
	challenge string
	expires   time.Time
	used      bool // kept after Finish until swept as expired, so a replay says so
}

// New discovers the provider and returns a relying party for it.
func New(ctx context.Context, cfg Config, opts Options) (*Provider, error) {
	explicit := cfg.UsernameClaim != ""
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Provider{
		cfg:           cfg,
		explicitClaim: explicit,
		now:           opts.Now,
		logf:          opts.Logf,
		hc:            opts.HTTPClient,
		pending:       make(map[string]*pendingLogin),
		maxPending:    maxPending,
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.logf == nil {
		p.logf = logger.Discard
	}
	if p.hc == nil {
		p.hc = &http.Client{Timeout: 30 * time.Second}
	}
	// The client given here is also the one go-oidc fetches signing keys
	// with, for the provider's lifetime.
	op, err := oidc.NewProvider(oidc.ClientContext(ctx, p.hc), cfg.Issuer)
	if err != nil {
		var mismatch *oidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return nil, fmt.Errorf("sso: issuer %q: its discovery document names issuer %q; set issuer to exactly the provider's: %w", cfg.Issuer, mismatch.Discovered, err)
		}
		return nil, fmt.Errorf("sso: discovery of issuer %q (is it reachable from the server?): %w", cfg.Issuer, err)
	}
	p.oauth = oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		Endpoint:     op.Endpoint(),
		RedirectURL:  cfg.RedirectURL,
		Scopes:       cfg.Scopes,
	}
	p.verifier = op.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: p.now})
	p.sigOnly = op.Verifier(&oidc.Config{SkipClientIDCheck: true, SkipIssuerCheck: true, SkipExpiryCheck: true})
	return p, nil
}

// Login is a login Begin started.
type Login struct {
	// AuthURL is the provider's authorization URL to send the user to.
	AuthURL string
	// BrowserSecret binds the login to the browser that started it: the
	// caller keeps it in that browser (Routes: in BindingCookie), and
	// Finish accepts the provider's redirect only from a browser that
	// presents it.
	BrowserSecret string
}

// Begin starts a login. clientRedirect is where the user goes when the
// login is done: see CheckClientRedirect. clientChallenge is the S256
// challenge of a verifier kept by the client that will redeem the hand-off
// code: required when clientRedirect is a loopback URL (the CLI), refused
// when it is a path on this server (the web console, whose code is bound
// to its browser instead).
func (p *Provider) Begin(clientRedirect, clientChallenge string) (Login, error) {
	redirect, err := CheckClientRedirect(clientRedirect)
	if err != nil {
		return Login{}, err
	}
	switch {
	case strings.HasPrefix(redirect, "/") && clientChallenge != "":
		return Login{}, fmt.Errorf("%w: a sign-in for a path on this server (the web console) is bound to its browser and takes no code_challenge", ErrBadChallenge)
	case !strings.HasPrefix(redirect, "/") && clientChallenge == "":
		return Login{}, ErrNoChallenge
	case clientChallenge != "":
		if err := checkChallenge(clientChallenge); err != nil {
			return Login{}, err
		}
	}
	state := rand.Text()
	secret := rand.Text()
	pl := &pendingLogin{
		nonce:     rand.Text(),
		verifier:  oauth2.GenerateVerifier(),
		redirect:  redirect,
		browser:   s256(secret),
		challenge: clientChallenge,
	}
	now := p.now()
	pl.expires = now.Add(loginTTL)

	p.mu.Lock()
	makeRoom(p.pending, p.maxPending, now, func(pl *pendingLogin) time.Time { return pl.expires })
	p.pending[state] = pl
	p.mu.Unlock()

	return Login{
		AuthURL:       p.oauth.AuthCodeURL(state, oidc.Nonce(pl.nonce), oauth2.S256ChallengeOption(pl.verifier)),
		BrowserSecret: secret,
	}, nil
}

// takeState finds state's login, checks that one of browserSecrets is the
// one it was started with, marks it used and returns it with the secret
// that matched. The login comes back with ErrStateExpired too, since where
// to send the user is still known. A browser that did not start the login
// gets ErrOtherBrowser and leaves it as it was: whoever holds a login's
// callback URL cannot spend it for the browser that started it.
func (p *Provider) takeState(state string, browserSecrets []string) (*pendingLogin, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pl, ok := p.pending[state]
	if state == "" || !ok {
		return nil, "", ErrUnknownState
	}
	secret := ""
	for _, s := range browserSecrets {
		if subtle.ConstantTimeCompare([]byte(s256(s)), []byte(pl.browser)) == 1 {
			secret = s
			break
		}
	}
	switch {
	case secret == "" && len(browserSecrets) == 0:
		return nil, "", fmt.Errorf("%w: the request has no binding cookie", ErrOtherBrowser)
	case secret == "":
		return nil, "", fmt.Errorf("%w: none of the %d binding secrets of its cookie is this login's", ErrOtherBrowser, len(browserSecrets))
	case pl.used:
		return nil, "", ErrStateReused
	}
	pl.used = true
	if !p.now().Before(pl.expires) {
		delete(p.pending, state)
		return pl, secret, ErrStateExpired
	}
	return pl, secret, nil
}

// Finished is what Finish tells about a login besides who signed in.
type Finished struct {
	// Redirect is the clientRedirect given to Begin, where to send the
	// user with the outcome; empty when the login is unknown, already
	// finished, or was not started by this browser (then the outcome
	// is nobody else's business).
	Redirect string
	// BrowserSecret is the one of the browser's secrets that started
	// the login. It has served, unless the hand-off is bound to it.
	BrowserSecret string
	// Challenge is the S256 challenge the hand-off code must be bound
	// to: the client's given to Begin, or, for a login that gave none
	// (the web console), that of BrowserSecret, so that the code is
	// good only in this browser.
	Challenge string
}

// Finish handles the provider's redirect to RedirectURL, r: it checks the
// state (each is good once) and that the browser presents, among
// browserSecrets, the secret Begin returned for that login; it redeems the
// code with the PKCE verifier, verifies the ID token and its nonce, and
// returns who signed in and what the hand-off is bound to.
//
// The redirect is returned with some errors too (the provider's refusal, a
// token that failed verification, an expired login), so the user can be
// sent back to the client with the error rather than left on the server's
// page.
func (p *Provider) Finish(ctx context.Context, r *http.Request, browserSecrets []string) (Identity, Finished, error) {
	q := r.URL.Query()
	pl, secret, err := p.takeState(q.Get("state"), browserSecrets)
	var fin Finished
	if pl != nil {
		fin = Finished{Redirect: pl.redirect, BrowserSecret: secret, Challenge: cmp.Or(pl.challenge, pl.browser)}
	}
	if errors.Is(err, ErrOtherBrowser) {
		// Before the provider's error: a refusal from another
		// browser's login is not this browser's to pass on.
		return Identity{}, fin, err
	}
	if code := q.Get("error"); code != "" {
		return Identity{}, fin, &IdPError{Code: code, Description: q.Get("error_description")}
	}
	if err != nil {
		return Identity{}, fin, err
	}
	code := q.Get("code")
	if code == "" {
		return Identity{}, fin, ErrNoCode
	}

	tok, err := p.oauth.Exchange(context.WithValue(ctx, oauth2.HTTPClient, p.hc), code, oauth2.VerifierOption(pl.verifier))
	if err != nil {
		return Identity{}, fin, fmt.Errorf("%w: %w", ErrExchange, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, fin, ErrNoIDToken
	}
	idt, err := p.verify(ctx, raw, pl.nonce)
	if err != nil {
		return Identity{}, fin, err
	}
	id, err := p.identity(idt)
	if err != nil {
		return Identity{}, fin, err
	}
	return id, fin, nil
}

// verify checks the ID token with go-oidc and then its nonce, which go-oidc
// leaves to the caller.
func (p *Provider) verify(ctx context.Context, raw, nonce string) (*oidc.IDToken, error) {
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, p.explain(ctx, raw, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, fmt.Errorf("%w (the token answers another login)", ErrTokenNonce)
	}
	if idt.Subject == "" {
		return nil, fmt.Errorf("%w: no sub claim", ErrTokenInvalid)
	}
	return idt, nil
}

// explain turns go-oidc's refusal of raw into the error saying which check
// failed. The decision stays go-oidc's: this only names it.
func (p *Provider) explain(ctx context.Context, raw string, err error) error {
	var expired *oidc.TokenExpiredError
	if errors.As(err, &expired) {
		return fmt.Errorf("%w at %s: %w", ErrTokenExpired, expired.Expiry.UTC().Format(time.RFC3339), err)
	}
	t, sigErr := p.sigOnly.Verify(ctx, raw)
	switch {
	case sigErr != nil:
		return fmt.Errorf("%w: %w", ErrTokenSignature, sigErr)
	case t.Issuer != p.cfg.Issuer:
		return fmt.Errorf("%w: %w", ErrTokenIssuer, err)
	case !slices.Contains(t.Audience, p.cfg.ClientID):
		return fmt.Errorf("%w: %w", ErrTokenAudience, err)
	}
	return fmt.Errorf("%w: %w", ErrTokenInvalid, err)
}

// identity reads the user name and groups from a verified token.
func (p *Provider) identity(idt *oidc.IDToken) (Identity, error) {
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("%w: claims: %w", ErrTokenInvalid, err)
	}
	id := Identity{Issuer: idt.Issuer, Subject: idt.Subject}
	if email, _ := claims["email"].(string); email != "" && isTrue(claims["email_verified"]) {
		id.Email = email
	}
	id.Username, _ = claims[p.cfg.UsernameClaim].(string)
	if id.Username == "" && !p.explicitClaim {
		id.Username = cmp.Or(id.Email, id.Subject)
	}
	switch {
	case id.Username == "":
		return Identity{}, fmt.Errorf("%w: the ID token of %s has no string claim %q", ErrMissingUsername, id.Subject, p.cfg.UsernameClaim)
	case !ids.ValidUser(id.Username):
		return Identity{}, fmt.Errorf("%w: %q (claim %q) must be 1-64 of A-Z a-z 0-9 _.@+=,-", ErrInvalidUsername, id.Username, p.cfg.UsernameClaim)
	}

	idpGroups, err := stringList(claims[p.cfg.GroupsClaim])
	if err != nil {
		return Identity{}, fmt.Errorf("%w: claim %q: %w", ErrBadGroupsClaim, p.cfg.GroupsClaim, err)
	}
	if len(p.cfg.AllowedGroups) > 0 && !slices.ContainsFunc(idpGroups, func(g string) bool { return slices.Contains(p.cfg.AllowedGroups, g) }) {
		return Identity{}, fmt.Errorf("%w: %s is in %q, none of %q", ErrNotAllowed, id.Username, idpGroups, p.cfg.AllowedGroups)
	}
	for _, g := range idpGroups {
		id.Groups = append(id.Groups, p.cfg.GroupMap[g]...)
	}
	slices.Sort(id.Groups)
	id.Groups = slices.Compact(id.Groups)
	p.logf("sso: verified %s (%s %s): provider groups %q, Postern groups %q", id.Username, id.Issuer, id.Subject, idpGroups, id.Groups)
	return id, nil
}

// isTrue reads email_verified, which some providers (Cognito) send as a
// string.
func isTrue(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// stringList reads a groups claim: a JSON array of strings, or a single
// string as some providers send for one group; absent is no groups.
func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("element %v is a %T", e, e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("it is a %T", v)
}

// makeRoom makes room for one more entry in m, which holds at most max:
// it drops the expired entries and then, if still full, the one expiring
// first. It scans only when m is full, so it costs nothing otherwise.
func makeRoom[V any](m map[string]V, max int, now time.Time, expires func(V) time.Time) {
	if len(m) < max {
		return
	}
	sweep(m, now, expires)
	if len(m) < max {
		return
	}
	var oldest string
	var oldestAt time.Time
	for k, v := range m {
		if at := expires(v); oldest == "" || at.Before(oldestAt) {
			oldest, oldestAt = k, at
		}
	}
	delete(m, oldest)
}

// sweep drops the entries of m expired at now.
func sweep[V any](m map[string]V, now time.Time, expires func(V) time.Time) {
	maps.DeleteFunc(m, func(_ string, v V) bool { return !now.Before(expires(v)) })
}
