package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/pki"
)

// Version is the agent's version, reported at registration and on
// connect; scripts/release sets it (-ldflags -X), as it sets Commit.
var Version = "0.1.0-dev"

// Commit is the source revision a release was built from; empty in other
// builds, which take the revision the Go toolchain stamped (BuildCommit).
var Commit = ""

// BuildCommit is the revision this binary was built from: Commit, else
// the toolchain's vcs.revision ("-dirty" if the tree had changes), else
// "unknown" (a build outside a repository).
func BuildCommit() string {
	if Commit != "" {
		return Commit
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// Identity is what registration leaves on the node: who it is and how to
// reach and trust the server.
type Identity struct {
	NodeID string `json:"nodeId"`
	// Name is the node's name as the server registered it; Renamed says
	// why it is not the one asked for (only on the result of Register).
	Name    string `json:"name,omitempty"`
	Renamed string `json:"-"`
	Server  string `json:"server"` // https://host:port
	// Files, relative to the identity directory.
	CertFile string `json:"certFile"`
	KeyFile  string `json:"keyFile"`
	CAFile   string `json:"caFile"`
}

const identityFile = "identity.json"

// LoadIdentity reads the identity registered in dir.
func LoadIdentity(dir string) (Identity, error) {
	b, err := os.ReadFile(filepath.Join(dir, identityFile))
	if errors.Is(err, os.ErrNotExist) {
		return Identity{}, fmt.Errorf("agent: not registered: no %s in %s; run `postern-agent register` first", identityFile, dir)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("agent: %w", err)
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return Identity{}, fmt.Errorf("agent: %s: %w", filepath.Join(dir, identityFile), err)
	}
	return id, nil
}

// TLSConfig returns the client TLS configuration for the identity in dir:
// the node's certificate, trusting only the server's CA.
func (id Identity) TLSConfig(dir string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, id.CertFile), filepath.Join(dir, id.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("agent: load client certificate: %w", err)
	}
	pool, err := id.CAPool(dir)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// CAPool returns the server's CA stored with the identity in dir: the only
// issuer the agent trusts, for the server's TLS certificate and for the
// certificate that signs session grants.
func (id Identity) CAPool(dir string) (*x509.CertPool, error) {
	caPEM, err := os.ReadFile(filepath.Join(dir, id.CAFile))
	if err != nil {
		return nil, fmt.Errorf("agent: load server CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("agent: %s holds no certificate", id.CAFile)
	}
	return pool, nil
}

// RegisterOptions are the inputs of Register.
type RegisterOptions struct {
	Server string // https://host:port
	Code   string
	ID     string // activation id
	Name   string
	Tags   map[string]string
	// CAPin, when set, trusts a server whose chain holds the CA with this
	// fingerprint (printed by `postern activations create`). CAFile
	// trusts a CA certificate file. With neither, the system roots are used.
	CAPin  string
	CAFile string
	Dir    string // where to keep the identity
	// Hostname is what the node reports as its host name (default: the
	// system's).
	Hostname string
}

// Register registers this node with an activation and stores its identity
// in opts.Dir. It refuses to overwrite an existing registration.
func Register(ctx context.Context, opts RegisterOptions) (Identity, error) {
	if opts.Server == "" || opts.Code == "" || opts.ID == "" {
		return Identity{}, errors.New("agent: register needs --server, --code and --id")
	}
	server := strings.TrimRight(opts.Server, "/")
	if !strings.HasPrefix(server, "https://") {
		return Identity{}, fmt.Errorf("agent: server %q must be an https:// URL", opts.Server)
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, identityFile)); err == nil {
		return Identity{}, fmt.Errorf("agent: this node is already registered (%s exists); remove it to register again", filepath.Join(opts.Dir, identityFile))
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case opts.CAPin != "":
		// The pin replaces chain verification on first contact; from then
		// on the stored CA is used.
		tlsConf.InsecureSkipVerify = true
		tlsConf.VerifyPeerCertificate = pki.VerifyPinned(opts.CAPin)
	case opts.CAFile != "":
		b, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return Identity{}, fmt.Errorf("agent: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return Identity{}, fmt.Errorf("agent: %s holds no certificate", opts.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	keyPEM, csrPEM, err := pki.NewClientKey("postern-agent")
	if err != nil {
		return Identity{}, err
	}
	host := opts.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	req := api.RegisterRequest{
		ActivationID:   opts.ID,
		ActivationCode: opts.Code,
		CSR:            string(csrPEM),
		Name:           opts.Name,
		Hostname:       host,
		OS:             runtime.GOOS,
		Platform:       platformName(),
		AgentVersion:   Version,
		IP:             primaryIP(),
		Tags:           opts.Tags,
	}
	body, _ := json.Marshal(req)
	// One request: no connection kept open after it (a process that
	// registers in-process, as postern dev does, would keep it forever).
	tr := &http.Transport{TLSClientConfig: tlsConf, Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Timeout: 30 * time.Second, Transport: tr}
	hreq, err := http.NewRequestWithContext(ctx, "POST", server+api.PathRegister, bytes.NewReader(body))
	if err != nil {
		return Identity{}, fmt.Errorf("agent: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(hreq)
	if err != nil {
		return Identity{}, fmt.Errorf("agent: cannot reach %s: %w", server, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		if json.Unmarshal(rb, &e) == nil && e.Message != "" {
			return Identity{}, fmt.Errorf("registration refused: %s", e.Message)
		}
		return Identity{}, fmt.Errorf("registration refused: %s: %s", resp.Status, strings.TrimSpace(string(rb)))
	}
	var rr api.RegisterResponse
	if err := json.Unmarshal(rb, &rr); err != nil {
		return Identity{}, fmt.Errorf("agent: registration response: %w", err)
	}
	id := Identity{NodeID: rr.NodeID, Name: rr.Name, Renamed: rr.Renamed, Server: server, CertFile: "agent.crt", KeyFile: "agent.key", CAFile: "ca.crt"}
	if err := SaveIdentity(opts.Dir, id, keyPEM, []byte(rr.Certificate), []byte(rr.CA)); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// SaveIdentity writes an identity and its key material to dir.
func SaveIdentity(dir string, id Identity, keyPEM, certPEM, caPEM []byte) error {
	if err := privateDir(dir); err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{id.KeyFile, keyPEM, 0o600},
		{id.CertFile, certPEM, 0o644},
		{id.CAFile, caPEM, 0o644},
	}
	for _, f := range files {
		if err := pki.WriteFileAtomic(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return err
		}
	}
	b, _ := json.MarshalIndent(id, "", "  ")
	// The identity file goes last: its presence means registration is
	// complete.
	return pki.WriteFileAtomic(filepath.Join(dir, identityFile), append(b, '\n'), 0o600)
}

// primaryIP is the node's first non-loopback IPv4 address, as shown in
// `postern nodes`.
func primaryIP() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	return "127.0.0.1"
}

// platformName reads PRETTY_NAME from os-release where there is one.
func platformName() string {
	if name := windowsVersion(); name != "" {
		return name
	}
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return runtime.GOOS
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}
