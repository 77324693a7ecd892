// Package client is the Go client of Postern's API: the one way the CLI and
// the tests talk to a server. It also runs an interactive session over the
// session WebSocket, reconnecting by itself and resuming without losing or
// repeating output when the connection drops.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/postern/postern/api"
)

// Config is what the CLI keeps under $POSTERN_HOME.
type Config struct {
	Server string `json:"server"`          // https://host:port
	CA     string `json:"ca,omitempty"`    // PEM of the server's CA; empty: system roots
	Token  string `json:"token,omitempty"` // bearer token
	// RefreshToken buys the next token when Token expires.
	RefreshToken string `json:"refreshToken,omitempty"`
	User         string `json:"user,omitempty"`    // for display
	Account      string `json:"account,omitempty"` // for display
}

// Home returns the CLI's configuration directory: $POSTERN_HOME, or
// ~/.config/postern.
func Home() string {
	if h := os.Getenv("POSTERN_HOME"); h != "" {
		return h
	}
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "postern")
	}
	return ".postern"
}

const configFile = "config.json"

// ErrNoConfig means the CLI has never logged in.
var ErrNoConfig = errors.New("not logged in: run `postern login --server URL` (or `postern dev` for a local server)")

// LoadConfig reads the configuration in dir.
func LoadConfig(dir string) (Config, error) {
	b, err := os.ReadFile(filepath.Join(dir, configFile))
	if errors.Is(err, os.ErrNotExist) {
		return Config{}, ErrNoConfig
	}
	if err != nil {
		return Config{}, fmt.Errorf("client: %w", err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("client: %s: %w", filepath.Join(dir, configFile), err)
	}
	return c, nil
}

// The environment variables EnvConfig reads: an API token for scripts and
// CI, and where its server is when no configuration file says.
const (
	EnvToken  = "POSTERN_TOKEN"
	EnvServer = "POSTERN_SERVER"
	EnvCAFile = "POSTERN_CA_FILE"
)

// EnvConfig is the configuration in dir with the environment applied: with
// $POSTERN_TOKEN set, that token is used instead of the saved one (and no
// refresh token, so nothing saved is spent or replaced), at
// $POSTERN_SERVER with the CA in $POSTERN_CA_FILE where set, else the saved
// server and CA. fromEnv reports that the token came from the environment:
// renewed tokens must then not be saved over the configuration.
func EnvConfig(dir string) (c Config, fromEnv bool, err error) {
	c, err = LoadConfig(dir)
	tok := os.Getenv(EnvToken)
	if tok == "" {
		return c, false, err
	}
	if err != nil && !errors.Is(err, ErrNoConfig) {
		return c, false, err
	}
	c.Token, c.RefreshToken = tok, ""
	if srv := os.Getenv(EnvServer); srv != "" {
		c.Server = srv
	}
	if f := os.Getenv(EnvCAFile); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return c, true, fmt.Errorf("client: %s: %w", EnvCAFile, err)
		}
		c.CA = string(pem)
	}
	if c.Server == "" {
		return c, true, fmt.Errorf("client: %s is set but no server is known: set %s=https://host:port (and %s for a private CA), or run `postern login` once", EnvToken, EnvServer, EnvCAFile)
	}
	return c, true, nil
}

// SaveConfig writes the configuration to dir with owner-only permissions:
// it holds a bearer token.
func SaveConfig(dir string, c Config) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	tmp := filepath.Join(dir, "."+configFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, configFile))
}

// Client talks to one server.
type Client struct {
	base string
	tls  *tls.Config
	hc   *http.Client

	mu      sync.Mutex // guards token and refresh
	token   string
	refresh string
	// saved is told of tokens bought with the refresh token, to keep
	// them (the CLI writes its configuration).
	saved func(api.LoginResponse)
}

// OnRefresh sets what is told of new tokens the client buys when its
// token expires.
func (c *Client) OnRefresh(f func(api.LoginResponse)) { c.saved = f }

func (c *Client) bearer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// renew trades the refresh token for a new token, once per expired token
// (concurrent requests that all found it expired share one renewal).
func (c *Client) renew(ctx context.Context, expired string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != expired {
		return true // renewed meanwhile
	}
	if c.refresh == "" {
		return false
	}
	var res api.LoginResponse
	resp, err := c.send(ctx, "POST", api.PathRefresh, api.RefreshRequest{RefreshToken: c.refresh}, "")
	if err != nil {
		c.refresh = "" // used or expired: don't try it again
		return false
	}
	defer resp.Body.Close()
	if json.NewDecoder(resp.Body).Decode(&res) != nil || res.Token == "" {
		return false
	}
	c.token, c.refresh = res.Token, res.RefreshToken
	if c.saved != nil {
		c.saved(res)
	}
	return true
}

// New returns a client for the configuration.
func New(c Config) (*Client, error) {
	base := strings.TrimRight(c.Server, "/")
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: server %q must be an https:// URL", c.Server)
	}
	// Session tickets let the many WebSockets of one client (a port
	// forward opens one per connection) resume instead of a full
	// handshake each.
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(32)}
	if c.CA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(c.CA)) {
			return nil, errors.New("client: the configured CA holds no certificate")
		}
		tc.RootCAs = pool
	}
	tr := &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	return &Client{base: base, token: c.Token, refresh: c.RefreshToken, tls: tc, hc: &http.Client{Transport: tr}}, nil
}

// Error is an error the server answered with.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// do sends a request and decodes a JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.raw(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("client: decoding %s %s: %w", method, path, err)
	}
	return nil
}

// raw sends a request and returns a 2xx response; other statuses become
// *Error. An expired token is renewed with the refresh token, once.
func (c *Client) raw(ctx context.Context, method, path string, in any) (*http.Response, error) {
	if path == api.PathLogin || path == api.PathRefresh {
		// Signing in proves who one is with what the body carries: a
		// token the client holds has no part in it, and a refusal is
		// about the password or refresh token sent, not a reason to
		// spend the saved refresh token (whose successor nobody would
		// keep).
		return c.send(ctx, method, path, in, "")
	}
	tok := c.bearer()
	resp, err := c.send(ctx, method, path, in, tok)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized && tok != "" && c.renew(ctx, tok) {
		resp, err = c.send(ctx, method, path, in, c.bearer())
	}
	return resp, err
}

func (c *Client) send(ctx context.Context, method, path string, in any, token string) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the Postern server at %s: %w", c.base, unwrapURLError(err))
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e api.Error
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			return nil, &Error{Status: resp.StatusCode, Code: e.Code, Message: e.Message}
		}
		return nil, &Error{Status: resp.StatusCode, Message: fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))}
	}
	return resp, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Login signs in with a password and returns a token.
func (c *Client) Login(ctx context.Context, account, user, password string) (api.LoginResponse, error) {
	var out api.LoginResponse
	err := c.do(ctx, "POST", api.PathLogin, api.LoginRequest{Account: account, User: user, Password: password}, &out)
	return out, err
}

// WhoAmI describes the signed-in user.
func (c *Client) WhoAmI(ctx context.Context) (api.WhoAmI, error) {
	var out api.WhoAmI
	err := c.do(ctx, "GET", api.PathWhoAmI, nil, &out)
	return out, err
}

// AgentDownloadSums returns the server's list of agent builds for the
// node install command, as SHA256SUMS lines; a server that offers none
// answers 404 (an *Error).
func (c *Client) AgentDownloadSums(ctx context.Context) (string, error) {
	b, _, err := c.installFile(ctx, api.PathAgentDownloads+"SHA256SUMS", 1<<20)
	return string(b), err
}

// InstallCA returns the CA certificate the server serves to the node
// install command, as it serves it, and whether this client's connection
// to the server was verified through that CA (the server's certificate
// is its own CA's, which the install commands then pin).
func (c *Client) InstallCA(ctx context.Context) ([]byte, bool, error) {
	b, conn, err := c.installFile(ctx, api.PathInstallCA, 64<<10)
	if err != nil {
		return nil, false, err
	}
	through := false
	if block, _ := pem.Decode(b); block != nil && conn != nil {
		for _, chain := range conn.VerifiedChains {
			for _, cert := range chain {
				through = through || bytes.Equal(cert.Raw, block.Bytes)
			}
		}
	}
	return b, through, nil
}

// InstallScriptPS returns the Windows node install script, as the server
// serves it.
func (c *Client) InstallScriptPS(ctx context.Context) ([]byte, error) {
	b, _, err := c.installFile(ctx, api.PathInstallScriptPS, 1<<20)
	return b, err
}

// installFile reads what the server serves the node install command at
// path, up to limit bytes, and the connection's TLS state (nil without
// TLS).
func (c *Client) installFile(ctx context.Context, path string, limit int64) ([]byte, *tls.ConnectionState, error) {
	resp, err := c.raw(ctx, "GET", path, nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, nil, fmt.Errorf("client: %s: %w", path, err)
	}
	return b, resp.TLS, nil
}

// CreateActivation creates an activation; the answer holds the code.
func (c *Client) CreateActivation(ctx context.Context, req api.CreateActivationRequest) (api.Activation, error) {
	var out api.Activation
	err := c.do(ctx, "POST", api.PathActivations, req, &out)
	return out, err
}

// Activations lists the account's activations.
func (c *Client) Activations(ctx context.Context) ([]api.Activation, error) {
	var out []api.Activation
	err := c.do(ctx, "GET", api.PathActivations, nil, &out)
	return out, err
}

// DeregisterNode removes a node (by id or name).
func (c *Client) DeregisterNode(ctx context.Context, node string) error {
	return c.do(ctx, "DELETE", api.PathNodes+"/"+url.PathEscape(node), nil, nil)
}

// Nodes lists the account's managed nodes.
func (c *Client) Nodes(ctx context.Context) ([]api.Node, error) {
	var out []api.Node
	err := c.do(ctx, "GET", api.PathNodes, nil, &out)
	return out, err
}

// StartSession starts a session; attach to it with Attach or RunTerminal.
func (c *Client) StartSession(ctx context.Context, req api.StartSessionRequest) (api.Session, error) {
	var out api.Session
	err := c.do(ctx, "POST", api.PathSessions, req, &out)
	return out, err
}

// SessionFilter selects sessions in Sessions.
type SessionFilter struct {
	State  string // active, history or "" for all
	Target string
	Owner  string
	Since  string // e.g. 30d, 12h
	Limit  int
}

// Sessions lists sessions, newest first.
func (c *Client) Sessions(ctx context.Context, f SessionFilter) ([]api.Session, error) {
	q := url.Values{}
	for k, v := range map[string]string{"state": f.State, "target": f.Target, "owner": f.Owner, "since": f.Since} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	var out []api.Session
	err := c.do(ctx, "GET", api.PathSessions+"?"+q.Encode(), nil, &out)
	return out, err
}

// Session describes one session.
func (c *Client) Session(ctx context.Context, id string) (api.Session, error) {
	var out api.Session
	err := c.do(ctx, "GET", api.PathSessions+"/"+url.PathEscape(id), nil, &out)
	return out, err
}

// Connections lists a port session's forwarded connections, from its
// recording.
func (c *Client) Connections(ctx context.Context, id string) ([]api.Connection, error) {
	var out []api.Connection
	err := c.do(ctx, "GET", api.PathSessions+"/"+url.PathEscape(id)+"/connections", nil, &out)
	return out, err
}

// Terminate ends a session.
func (c *Client) Terminate(ctx context.Context, id string) (api.Session, error) {
	var out api.Session
	err := c.do(ctx, "POST", api.PathSessions+"/"+url.PathEscape(id)+"/terminate", nil, &out)
	return out, err
}

// Logs returns a session's recording in a format: "log" (transcript) or
// "cast" (asciicast v2).
func (c *Client) Logs(ctx context.Context, id, format string) (io.ReadCloser, error) {
	resp, err := c.raw(ctx, "GET", api.PathSessions+"/"+url.PathEscape(id)+"/logs?format="+url.QueryEscape(format), nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// DeleteLogs deletes a session's logs (administrators only): see
// api.DeleteLogsResult.
func (c *Client) DeleteLogs(ctx context.Context, id string) (api.DeleteLogsResult, error) {
	var out api.DeleteLogsResult
	err := c.do(ctx, "DELETE", api.PathSessions+"/"+url.PathEscape(id)+"/logs", nil, &out)
	return out, err
}

// ArtifactKey asks for the key of a session artifact's envelope (see
// package envelope).
func (c *Client) ArtifactKey(ctx context.Context, id string, req api.ArtifactKeyRequest) ([]byte, error) {
	var out api.ArtifactKey
	err := c.do(ctx, "POST", api.PathSessions+"/"+url.PathEscape(id)+"/logs/key", req, &out)
	return out.Key, err
}

// retryable reports whether a failed attach may succeed later.
func retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status >= 500 || e.Status == http.StatusTooManyRequests
	}
	return true // network errors
}

// Documents lists the session documents available to the account.
func (c *Client) Documents(ctx context.Context) ([]api.Document, error) {
	var out []api.Document
	err := c.do(ctx, "GET", api.PathDocuments, nil, &out)
	return out, err
}

// Document returns a document with its content; version 0 is the latest.
func (c *Client) Document(ctx context.Context, name string, version int) (api.Document, error) {
	var out api.Document
	path := api.PathDocuments + "/" + url.PathEscape(name)
	if version > 0 {
		path += fmt.Sprintf("?version=%d", version)
	}
	err := c.do(ctx, "GET", path, nil, &out)
	return out, err
}

// CreateDocument stores a new version of a document.
func (c *Client) CreateDocument(ctx context.Context, name, content string) (api.Document, error) {
	var out api.Document
	err := c.do(ctx, "POST", api.PathDocuments, api.PutDocumentRequest{Name: name, Content: content}, &out)
	return out, err
}

// DeleteDocument removes every version of a document.
func (c *Client) DeleteDocument(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", api.PathDocuments+"/"+url.PathEscape(name), nil, nil)
}

// ValidateDocument checks a document without storing it.
func (c *Client) ValidateDocument(ctx context.Context, content string) (api.ValidateResponse, error) {
	var out api.ValidateResponse
	err := c.do(ctx, "POST", api.PathDocuments+"/validate", api.PutDocumentRequest{Content: content}, &out)
	return out, err
}

// Preferences returns the account's session preferences document.
func (c *Client) Preferences(ctx context.Context) (api.Document, error) {
	var out api.Document
	err := c.do(ctx, "GET", api.PathPreferences, nil, &out)
	return out, err
}

// SetPreferences replaces the account's session preferences.
func (c *Client) SetPreferences(ctx context.Context, content string) (api.Document, error) {
	var out api.Document
	err := c.do(ctx, "PUT", api.PathPreferences, api.PutDocumentRequest{Content: content}, &out)
	return out, err
}

// SetUserAttributes changes a user's attributes, such as the OS user their
// sessions run as. Only administrators may.
func (c *Client) SetUserAttributes(ctx context.Context, name string, req api.SetUserAttributesRequest) (api.User, error) {
	var out api.User
	err := c.do(ctx, "PATCH", api.PathUsers+"/"+url.PathEscape(name), req, &out)
	return out, err
}

// DesktopPreferences returns the account's connection recording
// preferences for remote desktops.
func (c *Client) DesktopPreferences(ctx context.Context) (api.DesktopPreferences, error) {
	var out api.DesktopPreferences
	err := c.do(ctx, "GET", api.PathDesktopPreferences, nil, &out)
	return out, err
}

// SetDesktopPreferences replaces them with content, a JSON document in the
// shape of AWS::SSMGuiConnect::Preferences (validated by the server).
func (c *Client) SetDesktopPreferences(ctx context.Context, content []byte) (api.DesktopPreferences, error) {
	var out api.DesktopPreferences
	err := c.do(ctx, "PUT", api.PathDesktopPreferences, json.RawMessage(content), &out)
	return out, err
}
