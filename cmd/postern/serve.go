package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/api"
	"github.com/postern/postern/authn"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/client"
	"github.com/postern/postern/configfile"
	"github.com/postern/postern/keys"
	"github.com/postern/postern/logger"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/orgs"
	"github.com/postern/postern/pki"
	"github.com/postern/postern/server"
	"github.com/postern/postern/sso"
	"github.com/postern/postern/store"
	"github.com/postern/postern/store/postgres"
)

var version = agent.Version

// serverOptions are shared by `server` and `dev`.
type serverOptions struct {
	data string
	// database is where the metadata lives: a postgres:// URL, or empty
	// for SQLite in the data directory.
	database string
	listen   string
	// advertise is the URL peers reach this server at (server.Config).
	advertise string
	// leaseTTL is server.Config.LeaseTTL (0: the default).
	leaseTTL time.Duration
	hosts    []string
	grace    time.Duration
	// desktopProgram is the desktop engine (postern-desktop); empty:
	// beside this executable, or on PATH.
	desktopProgram string
	// agentDownloads is the directory of postern-agent builds the node
	// install script downloads; empty: none.
	agentDownloads string
	quiet          bool
	// signInLifetime and ssoSignInLifetime bound a sign-in; 0: defaults.
	signInLifetime, ssoSignInLifetime time.Duration
	// maxPendingConns caps a source's unauthenticated connections; 0:
	// default, negative: none.
	maxPendingConns int
	// proxyProtocolFrom are the load balancers whose connections start
	// with a PROXY protocol header naming the client.
	proxyProtocolFrom []netip.Prefix
	// debugListen serves Go's profiler (net/http/pprof) there; empty: off.
	debugListen string
	// destinations configures S3 and CloudWatch Logs delivery.
	destinations destinationsConfig
	// recordings keeps journals in object storage; zero: on local disk.
	recordings recordingsConfig
	// sso configures single sign-on; nil: passwords and tokens only.
	sso *sso.Config
	// audit is where the audit trail is copied.
	audit server.AuditArchive
	// metricsListen serves Prometheus metrics there; empty: off.
	metricsListen string
	// metricFilterMaxSeries bounds each metric filter's dimension values;
	// 0: default.
	metricFilterMaxSeries int
	// outboxMax bounds the recordings waiting for delivery; 0: default.
	outboxMax int64
	// minFreeDisk is the free space the data directory keeps; 0: default.
	minFreeDisk int64
	// TLS material from files; empty: created in the data directory.
	caCert, caKey, cert, key string
}

// runningServer is a started server and where it listens.
type runningServer struct {
	srv   *server.Server
	st    store.Store
	url   string
	done  chan error
	admin string // the bootstrap admin's password, when just created
	// metricsURL is where metrics are served; empty: not served.
	metricsURL string
}

// devCLIHome is where postern dev logs the CLI in: home, unless home holds
// a login to a server other than a local one (a postern dev's, any
// port), which it must not silently replace; then a directory in the data
// directory, and kept names the server of the login left alone.
func devCLIHome(home, data string) (dir, kept string) {
	cfg, err := client.LoadConfig(home)
	if err != nil || cfg.Server == "" {
		return home, ""
	}
	u, err := url.Parse(cfg.Server)
	if err == nil {
		if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback()) {
			return home, ""
		}
	}
	return filepath.Join(data, "cli"), cfg.Server
}

// externalHosts returns, for a listen address on every interface (":8443",
// "0.0.0.0:8443", "[::]:8443"), the names remote clients and agents reach
// this machine by: its host name and its addresses other than loopback
// and link-local ones. For any other address, nothing.
func externalHosts(listen string) []string {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return nil
	}
	var hosts []string
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		hosts = append(hosts, h)
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() || ipn.IP.IsLinkLocalMulticast() {
			continue
		}
		hosts = append(hosts, ipn.IP.String())
	}
	return hosts
}

// dataFiles are the databases in the data directory, unless they live in
// PostgreSQL: password and token hashes, per-session shred keys
// (postern.db), the sealed log store (logs.db).
var (
	metadataFiles = []string{"postern.db", "postern.db-wal", "postern.db-shm"}
	logFiles      = []string{"logs.db", "logs.db-wal", "logs.db-shm"}
)

// privateData makes the data directory and its databases the owner's
// alone (0700, 0600), creating the databases so: SQLite would create them
// as the umask says, 0644 in a 0755 directory on most systems, and keeps
// its WAL files as the database is. Existing ones are tightened too.
// sqlite is whether the databases are there (not in PostgreSQL).
func privateData(dir string, sqlite bool) error {
	var dataFiles []string
	if sqlite {
		dataFiles = append(slices.Clip(metadataFiles), logFiles...)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	for _, name := range dataFiles {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, ".db") {
			f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				return fmt.Errorf("data directory: %w", err)
			}
			f.Close()
		}
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("data directory: %w", err)
		}
	}
	return nil
}

// startServer opens the store, starts the server and returns once it
// listens.
func startServer(ctx context.Context, o serverOptions, logf logger.Logf) (*runningServer, error) {
	if err := privateData(o.data, o.database == ""); err != nil {
		return nil, err
	}
	if o.agentDownloads != "" {
		// A typo here would only show when a node is installed.
		if fi, err := os.Stat(o.agentDownloads); err != nil {
			return nil, fmt.Errorf("agentDownloads: %w", err)
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("agentDownloads %s: not a directory (of postern-agent builds)", o.agentDownloads)
		}
	}
	st, err := openStore(ctx, o, logf)
	if err != nil {
		return nil, err
	}
	// The key service first: a wrong or missing root key stops the
	// server before anything else is touched.
	ext, extAll, err := awsKMS(ctx, o.destinations)
	if err != nil {
		st.Close()
		return nil, err
	}
	// Key policies may name the organization of whoever uses a key.
	kopts := keys.Options{ExternalAll: extAll, Place: orgs.Place(st)}
	if ext != nil {
		kopts.External = ext
	}
	ks, err := keys.Open(ctx, st, filepath.Join(o.data, "root.key"), kopts)
	if err != nil {
		st.Close()
		return nil, err
	}
	reg := newMetricsRegistry()
	s3d, cwd, err := destinations(ctx, o.destinations)
	if err != nil {
		st.Close()
		return nil, err
	}
	recs, shipEvery, shipStall, err := recordingStore(ctx, o, logf)
	if err != nil {
		st.Close()
		return nil, err
	}
	logs, err := openLogStore(ctx, o, logstore.Options{Logf: logf, Keys: keys.LogGroupKeys{S: ks}}, logf)
	if err != nil {
		st.Close()
		return nil, err
	}
	closeStores := func() { logs.Close(); st.Close() }
	if cwd == nil {
		logf("server: log groups named by preferences are Postern's built-in ones (no AWS configuration for CloudWatch Logs: set cloudWatch: in the configuration, or AWS_REGION/AWS_ENDPOINT_URL_LOGS/AWS_PROFILE, to use CloudWatch Logs)")
	}
	var idp *sso.Provider
	if o.sso != nil {
		// Discovery now: a misconfigured provider is a startup error,
		// not a surprise at the first sign-in.
		if idp, err = sso.New(ctx, *o.sso, sso.Options{Logf: logf}); err != nil {
			closeStores()
			return nil, err
		}
		logf("server: single sign-on through %s", o.sso.Issuer)
	}
	// Listening on every address: the certificate must name what remote
	// clients and agents will dial, not only loopback.
	o.hosts = append(o.hosts, externalHosts(o.listen)...)
	// And what the other servers sharing the database dial.
	if o.advertise == "" {
		o.advertise = defaultAdvertise(o.listen)
	}
	if u, err := url.Parse(o.advertise); err == nil && u.Hostname() != "" {
		o.hosts = append(o.hosts, u.Hostname())
	}
	cfg := server.Config{
		SSO: idp, AuditArchive: o.audit,
		DataDir: o.data, Store: st, Hosts: o.hosts, Logf: logf, GracePeriod: o.grace, DesktopProgram: o.desktopProgram, AgentDownloads: o.agentDownloads,
		CACertFile: o.caCert, CAKeyFile: o.caKey, CertFile: o.cert, KeyFile: o.key,
		S3: s3d, CloudWatch: cwd, LogStore: logs, Metrics: reg, MetricFilterMaxSeries: o.metricFilterMaxSeries, OutboxMaxBytes: o.outboxMax, MinFreeDisk: o.minFreeDisk, Keys: ks,
		S3ClientSideEncryption: o.destinations.S3.ClientSideEncryption, AuditKey: ks.AuditKey(),
		SignInLifetime: o.signInLifetime, SSOSignInLifetime: o.ssoSignInLifetime, MaxPendingConns: o.maxPendingConns, ProxyProtocolFrom: o.proxyProtocolFrom,
		ShipInterval: shipEvery, ShipStallTimeout: shipStall, Advertise: o.advertise, LeaseTTL: o.leaseTTL,
	}
	if recs != nil {
		cfg.Recordings = recs
	}
	srv, err := server.New(cfg)
	if err != nil {
		closeStores()
		return nil, err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		srv.Close()
		closeStores()
		return nil, fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	rs := &runningServer{srv: srv, st: st, url: "https://" + net.JoinHostPort(host, fmt.Sprint(addr.Port)), done: make(chan error, 1)}
	pw, err := ensureAdmin(ctx, st, o.data)
	if err != nil {
		ln.Close()
		srv.Close()
		closeStores()
		return nil, err
	}
	rs.admin = pw
	if o.metricsListen != "" {
		if rs.metricsURL, err = serveMetrics(ctx, o.metricsListen, srv.MetricsHandler(reg), srv.TLSConfig(), logf); err != nil {
			ln.Close()
			srv.Close()
			closeStores()
			return nil, err
		}
	}
	if o.debugListen != "" {
		if err := serveDebug(ctx, o.debugListen, logf); err != nil {
			ln.Close()
			srv.Close()
			closeStores()
			return nil, err
		}
	}
	go func() {
		err := srv.Serve(ctx, ln)
		closeStores()
		if err == nil {
			logf("server: stopped: connections closed, recordings synced, stores closed")
		} else {
			logf("server: stopped: %v", err)
		}
		rs.done <- err
	}()
	return rs, nil
}

// openStore opens the metadata store: PostgreSQL when o.database names
// one, else SQLite in the data directory.
func openStore(ctx context.Context, o serverOptions, logf logger.Logf) (store.Store, error) {
	if o.database == "" {
		return store.OpenSQLite(ctx, filepath.Join(o.data, "postern.db"))
	}
	if !isPostgresURL(o.database) {
		// The value stays out of the message: it may hold a password.
		return nil, usagef("database: not a postgres:// or postgresql:// URL (leave it out for SQLite in the data directory)")
	}
	st, err := postgres.Open(ctx, o.database)
	if err != nil {
		return nil, err
	}
	logf("server: metadata in %s", st)
	return st, nil
}

// openLogStore opens the built-in log groups: in the PostgreSQL database
// when o.database names one, so that every server sharing it reads every
// server's events, else in SQLite in the data directory.
func openLogStore(ctx context.Context, o serverOptions, opts logstore.Options, logf logger.Logf) (*logstore.Store, error) {
	sqlite := filepath.Join(o.data, "logs.db")
	if o.database == "" {
		return logstore.Open(ctx, sqlite, opts)
	}
	ls, err := logstore.OpenPostgres(ctx, o.database, opts)
	if err != nil {
		return nil, err
	}
	logf("server: built-in log groups in the same database (schema %s)", logstore.PostgresSchema)
	if fi, err := os.Stat(sqlite); err == nil && fi.Size() > 0 {
		logf("server: WARNING: %s holds log groups from before PostgreSQL, which this server does not read: move them with postern admin migrate-store", sqlite)
	}
	return ls, nil
}

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// ensureAdmin creates the bootstrap administrator "admin" on first start,
// with the password from $POSTERN_ADMIN_PASSWORD or a random one kept in
// the data directory (mode 0600). It returns the password when it created
// the user.
func ensureAdmin(ctx context.Context, st store.Store, data string) (string, error) {
	_, err := st.GetUser(ctx, store.DefaultAccount, "admin")
	if err == nil {
		return "", nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	pw := os.Getenv("POSTERN_ADMIN_PASSWORD")
	if pw == "" {
		pw = authn.NewSecret("")
		if err := pki.WriteFileAtomic(filepath.Join(data, "admin-password"), []byte(pw+"\n"), 0o600); err != nil {
			return "", err
		}
	}
	hash, err := authn.HashPassword(pw)
	if err != nil {
		return "", err
	}
	return pw, st.CreateUser(ctx, store.User{Account: store.DefaultAccount, Name: "admin", PasswordHash: hash, Groups: []string{"administrators"}, CreatedAt: time.Now()})
}

func newServerCmd() *cobra.Command {
	var o serverOptions
	var config, logFormat string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Postern server",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if config != "" {
				if err := loadServerConfig(config, &o); err != nil {
					return err
				}
			}
			logf, err := logger.New(logFormat, os.Stderr)
			if err != nil {
				return usagef("--log-format: %v", err)
			}
			rs, err := startServer(cmd.Context(), o, logf)
			if err != nil {
				return err
			}
			urls := []string{rs.url}
			if ext := externalHosts(o.listen); len(ext) > 0 {
				_, port, _ := net.SplitHostPort(strings.TrimPrefix(rs.url, "https://"))
				urls = nil
				for _, h := range ext {
					urls = append(urls, "https://"+net.JoinHostPort(h, port))
				}
			}
			logf("server: listening on %s (CA fingerprint %s; the certificate names %s; more with --host)", strings.Join(urls, ", "), rs.srv.CA().Pin(), strings.Join(append([]string{"localhost", "127.0.0.1", "::1"}, o.hosts...), ", "))
			if rs.admin != "" {
				logf("server: created administrator \"admin\"; its password is in %s", filepath.Join(o.data, "admin-password"))
			}
			return <-rs.done
		},
	}
	f := cmd.Flags()
	f.StringVar(&config, "config", "", "configuration file (YAML or JSON)")
	f.StringVar(&logFormat, "log-format", logger.FormatText, "log lines as text, or json (log/slog's JSON lines)")
	f.StringVar(&o.data, "data", "/var/lib/postern", "data directory")
	f.StringVar(&o.database, "database", "", "metadata database: postgres://USER@HOST/DB?sslmode=verify-full (password from PGPASSWORD or ~/.pgpass); default: SQLite in the data directory")
	f.StringVar(&o.listen, "listen", ":8443", "address to listen on")
	f.StringSliceVar(&o.hosts, "host", nil, "extra names or addresses for the server certificate")
	f.DurationVar(&o.grace, "grace", 2*time.Minute, "how long a session waits for a dropped client or agent")
	f.StringVar(&o.desktopProgram, "desktop-program", "", "the remote desktop engine (postern-desktop); default: beside this executable, or on PATH")
	f.StringVar(&o.agentDownloads, "agent-downloads", "", "directory of postern-agent release builds that nodes install with /install.sh (postern activations create prints the command)")
	f.StringVar(&o.debugListen, "debug-listen", "", "serve Go's profiler (/debug/pprof/) on this address, e.g. 127.0.0.1:6060")
	f.StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus metrics (/metrics) on this address, e.g. 127.0.0.1:9090; scrapers need a token allowed GetMetrics")
	f.IntVar(&o.metricFilterMaxSeries, "metric-filter-max-series", server.DefaultMetricFilterMaxSeries, "combinations of dimension values each metric filter counts separately; more count under \"_other\"")
	f.Int64Var(&o.outboxMax, "outbox-max-bytes", server.DefaultOutboxMaxBytes, "bound on recordings waiting for delivery to log destinations; at it, sessions that name one are refused")
	f.Int64Var(&o.minFreeDisk, "min-free-disk", server.DefaultMinFreeDisk, "bytes the data directory's filesystem keeps free; below it, new sessions and changes are refused (DiskFull) and live sessions that cannot be recorded pause (-1: none)")
	f.StringVar(&o.cert, "tls-cert", "", "server certificate (PEM); default: issued by the CA")
	f.StringVar(&o.key, "tls-key", "", "server certificate key (PEM)")
	f.StringVar(&o.caCert, "ca-cert", "", "CA certificate for agent certificates (PEM); default: created in the data directory")
	f.StringVar(&o.caKey, "ca-key", "", "CA key (PEM)")
	return cmd
}

func newDevCmd() *cobra.Command {
	var o serverOptions
	var config string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local server and an agent for this host, logged in, in one process",
		Long: `Run a Postern server with embedded defaults, an agent for this host and an
administrator, and log the local CLI in, so that 'postern connect <this host>'
works at once. State lives in one data directory; running it again resumes it.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if config != "" {
				if err := loadServerConfig(config, &o); err != nil {
					return err
				}
			}
			return runDev(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	home, _ := os.UserHomeDir()
	f := cmd.Flags()
	f.StringVar(&config, "config", "", "configuration file (YAML or JSON), as postern server takes; optional")
	f.StringVar(&o.data, "data", filepath.Join(home, ".local", "share", "postern", "dev"), "data directory")
	f.StringVar(&o.listen, "listen", "127.0.0.1:8443", "address to listen on (port 0 picks a free one)")
	f.DurationVar(&o.grace, "grace", 2*time.Minute, "how long a session waits for a dropped client or agent")
	f.StringVar(&o.desktopProgram, "desktop-program", "", "the remote desktop engine (postern-desktop); default: beside this executable, or on PATH")
	f.StringVar(&o.agentDownloads, "agent-downloads", "", "directory of postern-agent release builds that nodes install with /install.sh (postern activations create prints the command)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "log only errors")
	f.StringVar(&o.debugListen, "debug-listen", "", "serve Go's profiler (/debug/pprof/) on this address, e.g. 127.0.0.1:6060")
	f.StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus metrics (/metrics) on this address, e.g. 127.0.0.1:9090; scrapers need a token allowed GetMetrics")
	f.IntVar(&o.metricFilterMaxSeries, "metric-filter-max-series", server.DefaultMetricFilterMaxSeries, "combinations of dimension values each metric filter counts separately; more count under \"_other\"")
	f.Int64Var(&o.outboxMax, "outbox-max-bytes", server.DefaultOutboxMaxBytes, "bound on recordings waiting for delivery to log destinations; at it, sessions that name one are refused")
	f.Int64Var(&o.minFreeDisk, "min-free-disk", server.DefaultMinFreeDisk, "bytes the data directory's filesystem keeps free; below it, new sessions and changes are refused (DiskFull) and live sessions that cannot be recorded pause (-1: none)")
	return cmd
}

func runDev(ctx context.Context, out io.Writer, o serverOptions) error {
	logf := logger.Logf(logger.Std)
	if o.quiet {
		logf = logger.Discard
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rs, err := startServer(ctx, o, logf)
	if err != nil {
		return err
	}
	// The local CLI: a long-lived token for the admin in $POSTERN_HOME.
	token, _, err := rs.srv.IssueToken(ctx, store.DefaultAccount, "admin", 30*24*time.Hour)
	if err != nil {
		return err
	}
	home, kept := devCLIHome(client.Home(), o.data)
	if err := client.SaveConfig(home, client.Config{Server: rs.url, CA: string(rs.srv.CA().CertPEM), Token: token, User: "admin", Account: store.DefaultAccount}); err != nil {
		return err
	}
	// The local administrator's metrics token, where a local Prometheus
	// can read it (credentials_file).
	metricsTokenFile := ""
	if rs.metricsURL != "" {
		if metricsTokenFile, err = ensureMetricsToken(ctx, rs, token, filepath.Join(o.data, "metrics-token")); err != nil {
			return err
		}
	}
	// The local agent, registered through the real activation path on the
	// first run.
	agentDir := filepath.Join(o.data, "agent")
	if _, err := agent.LoadIdentity(agentDir); err != nil {
		c, err := client.New(client.Config{Server: rs.url, CA: string(rs.srv.CA().CertPEM), Token: token})
		if err != nil {
			return err
		}
		act, err := c.CreateActivation(ctx, api.CreateActivationRequest{Description: "postern dev local agent", ExpiresIn: "1h"})
		if err != nil {
			return err
		}
		caFile := filepath.Join(o.data, "tls", "ca.crt")
		if _, err := agent.Register(ctx, agent.RegisterOptions{Server: rs.url, Code: act.Code, ID: act.ID, CAFile: caFile, Dir: agentDir, Tags: map[string]string{"env": "dev"}}); err != nil {
			return err
		}
	}
	runAs := ""
	if u, err := user.Current(); err == nil {
		runAs = u.Username // dev shells are the developer's own
	}
	ag, err := agent.New(agent.Config{Dir: agentDir, Logf: logf, DefaultRunAs: runAs, Server: rs.url})
	if err != nil {
		return err
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- ag.Run(ctx) }()
	if err := waitOnline(ctx, rs, ag.NodeID()); err != nil {
		return err
	}
	host, _ := os.Hostname()
	fmt.Fprintf(out, "postern dev ready: %s\n", rs.url)
	fmt.Fprintf(out, `
  data:     %s
  node:     %s (%s)
  CLI home: %s (logged in as admin)
  console:  %s (admin; its password is in %s)

Next, in another terminal:
  postern nodes
  postern connect %s
  postern sessions
  postern logs get <session-id>

Press Ctrl-C to stop.
`, o.data, ag.NodeID(), host, home, rs.url, filepath.Join(o.data, "admin-password"), host)
	if metricsTokenFile != "" {
		fmt.Fprintf(out, "Metrics: %s with Authorization: Bearer $(cat %s) (admin's token, scope GetMetrics)\n", rs.metricsURL, metricsTokenFile)
	}
	if rs.admin != "" {
		fmt.Fprintf(out, "Administrator \"admin\" was created; its password is in %s\n", filepath.Join(o.data, "admin-password"))
	}
	if kept != "" {
		fmt.Fprintf(out, "The login in %s (to %s) is left as it was: run the CLI with POSTERN_HOME=%s for this server.\n", client.Home(), kept, home)
	}
	select {
	case <-ctx.Done():
	case err := <-rs.done:
		return err
	case err := <-agentDone:
		if err != nil {
			return err
		}
	}
	cancel()
	<-agentDone
	return <-rs.done
}

// ensureMetricsToken keeps in file an API token of the local admin scoped
// to GetMetrics, made with the admin's token: the one already there while
// it is good for another day, else a new one (30 days). It returns file.
func ensureMetricsToken(ctx context.Context, rs *runningServer, adminToken, file string) (string, error) {
	if b, err := os.ReadFile(file); err == nil {
		t, err := rs.st.GetToken(ctx, authn.HashSecret(strings.TrimSpace(string(b))), time.Now())
		if err == nil && t.Kind == store.TokenAPI && t.User == "admin" && slices.Equal(t.Scopes, []string{string(authz.GetMetrics)}) &&
			time.Until(t.ExpiresAt) > 24*time.Hour {
			return file, nil
		}
	}
	c, err := client.New(client.Config{Server: rs.url, CA: string(rs.srv.CA().CertPEM), Token: adminToken})
	if err != nil {
		return "", err
	}
	t, err := c.CreateToken(ctx, "admin", api.CreateTokenRequest{Name: "postern dev metrics", ExpiresIn: "30d", Scopes: []string{string(authz.GetMetrics)}})
	if err != nil {
		return "", fmt.Errorf("metrics token: %w", err)
	}
	// No newline: the file is the credential, as Prometheus'
	// credentials_file reads it.
	if err := pki.WriteFileAtomic(file, []byte(t.Secret), 0o600); err != nil {
		return "", err
	}
	return file, nil
}

func waitOnline(ctx context.Context, rs *runningServer, nodeID string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if rs.srv.NodeOnline(nodeID) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("the local agent %s did not connect within 30s", nodeID)
}

// serverFile is a server configuration file (postern server --config):
// every key is in the README's table (TestConfigKeysDocumented).
type serverFile struct {
	Data string `json:"data"`
	// Database is where the metadata lives: a postgres:// URL;
	// empty for SQLite in the data directory.
	Database string `json:"database"`
	Listen   string `json:"listen"`
	// Advertise is the URL the other servers sharing the
	// database reach this one at.
	Advertise string   `json:"advertise"`
	Hosts     []string `json:"hosts"`
	Grace     string   `json:"grace"`
	// LeaseTTL is how long a lease on shared work, and a server's
	// presence, outlive a server that stops renewing them.
	LeaseTTL string `json:"leaseTTL"`
	// SignInLifetime and SSOSignInLifetime bound a sign-in, however
	// often it is refreshed (durations: 720h, 12h).
	SignInLifetime    string `json:"signInLifetime"`
	SSOSignInLifetime string `json:"ssoSignInLifetime"`
	// MaxPendingConns caps the connections a source address holds
	// before they authenticate (-1: no cap).
	MaxPendingConns int `json:"maxPendingConns"`
	// ProxyProtocolFrom names the load balancers (addresses or
	// CIDR prefixes) that send a PROXY protocol header first.
	ProxyProtocolFrom []string `json:"proxyProtocolFrom"`
	TLSCert           string   `json:"tlsCert"`
	TLSKey            string   `json:"tlsKey"`
	CACert            string   `json:"caCert"`
	CAKey             string   `json:"caKey"`
	MetricsListen     string   `json:"metricsListen"`
	OutboxMaxBytes    int64    `json:"outboxMaxBytes"`
	// MinFreeDisk is the free space (bytes) the data directory
	// keeps; -1 for none.
	MinFreeDisk int64 `json:"minFreeDisk"`
	// MetricFilterMaxSeries bounds each metric filter's
	// combinations of dimension values.
	MetricFilterMaxSeries int `json:"metricFilterMaxSeries"`
	// SSO signs users in through an OpenID Connect provider.
	SSO *sso.Config `json:"sso"`
	// Audit copies the audit trail to an S3 bucket and/or a
	// CloudWatch Logs group (through the s3: and cloudWatch:
	// configuration).
	Audit struct {
		S3BucketName           string `json:"s3BucketName"`
		S3KeyPrefix            string `json:"s3KeyPrefix"`
		CloudWatchLogGroupName string `json:"cloudWatchLogGroupName"`
	} `json:"audit"`
	// Recordings keeps session journals in object storage, their
	// system of record.
	Recordings recordingsConfig `json:"recordings"`
	// AgentDownloads is the directory of postern-agent release
	// builds the node install script downloads.
	AgentDownloads string `json:"agentDownloads"`
	// Desktop configures remote desktops.
	Desktop struct {
		// Program is the desktop engine (postern-desktop).
		Program string `json:"program"`
	} `json:"desktop"`
	destinationsConfig
}

// loadServerConfig reads a server configuration file.
func loadServerConfig(path string, o *serverOptions) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var c serverFile
	if err := configfile.Unmarshal(path, b, &c); err != nil {
		return err
	}
	if c.Data != "" {
		o.data = c.Data
	}
	if c.Database != "" {
		if !isPostgresURL(c.Database) {
			return fmt.Errorf("%s: database: not a postgres:// or postgresql:// URL (leave it out for SQLite in the data directory)", path)
		}
		o.database = c.Database
	}
	if c.Listen != "" {
		o.listen = c.Listen
	}
	if c.Advertise != "" {
		if u, err := url.Parse(c.Advertise); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("%s: advertise: %q is not an https://HOST:PORT URL", path, c.Advertise)
		}
		o.advertise = c.Advertise
	}
	o.hosts = append(o.hosts, c.Hosts...)
	if c.Desktop.Program != "" {
		o.desktopProgram = c.Desktop.Program
	}
	if c.AgentDownloads != "" {
		o.agentDownloads = c.AgentDownloads
	}
	o.destinations = c.destinationsConfig
	o.recordings = c.Recordings
	if c.Audit.S3BucketName != "" {
		o.audit.S3 = &server.S3Target{Bucket: c.Audit.S3BucketName, Prefix: c.Audit.S3KeyPrefix, ClientSide: c.S3.ClientSideEncryption}
	}
	o.audit.CloudWatchLogGroup = c.Audit.CloudWatchLogGroupName
	if c.SSO != nil {
		if err := c.SSO.Validate(); err != nil {
			return fmt.Errorf("%s: sso: %w", path, err)
		}
		o.sso = c.SSO
	}
	if c.MetricsListen != "" {
		o.metricsListen = c.MetricsListen
	}
	if c.MetricFilterMaxSeries < 0 {
		return fmt.Errorf("%s: metricFilterMaxSeries: %d is negative", path, c.MetricFilterMaxSeries)
	}
	if c.MetricFilterMaxSeries > 0 {
		o.metricFilterMaxSeries = c.MetricFilterMaxSeries
	}
	if c.OutboxMaxBytes < 0 {
		return fmt.Errorf("%s: outboxMaxBytes: %d is negative", path, c.OutboxMaxBytes)
	}
	if c.OutboxMaxBytes > 0 {
		o.outboxMax = c.OutboxMaxBytes
	}
	if c.MinFreeDisk < -1 {
		return fmt.Errorf("%s: minFreeDisk: %d is neither a number of bytes nor -1 (none)", path, c.MinFreeDisk)
	}
	if c.MinFreeDisk != 0 {
		o.minFreeDisk = c.MinFreeDisk
	}
	for _, kv := range []struct {
		dst *string
		v   string
	}{{&o.cert, c.TLSCert}, {&o.key, c.TLSKey}, {&o.caCert, c.CACert}, {&o.caKey, c.CAKey}} {
		if kv.v != "" {
			*kv.dst = kv.v
		}
	}
	for _, d := range []struct {
		name, v string
		dst     *time.Duration
	}{{"grace", c.Grace, &o.grace}, {"signInLifetime", c.SignInLifetime, &o.signInLifetime}, {"ssoSignInLifetime", c.SSOSignInLifetime, &o.ssoSignInLifetime}, {"leaseTTL", c.LeaseTTL, &o.leaseTTL}} {
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", path, d.name, err)
		}
		if v <= 0 {
			return fmt.Errorf("%s: %s: %s must be positive", path, d.name, d.v)
		}
		*d.dst = v
	}
	o.maxPendingConns = c.MaxPendingConns
	for _, s := range c.ProxyProtocolFrom {
		p, err := parsePrefix(s)
		if err != nil {
			return fmt.Errorf("%s: proxyProtocolFrom: %w", path, err)
		}
		o.proxyProtocolFrom = append(o.proxyProtocolFrom, p)
	}
	return nil
}

// parsePrefix reads an address (a prefix of its own) or a CIDR prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an IP address nor a CIDR prefix (10.0.0.5, 10.0.0.0/24)", s)
	}
	return p.Masked(), nil
}

// defaultAdvertise is the URL the other servers sharing the database
// reach this one at when the configuration does not say: where it
// listens, or for every address the host's name. Empty for a port the
// system picks (port 0: a development server), which Serve fills in.
func defaultAdvertise(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "0" {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return ""
		}
		host = h
	}
	return "https://" + net.JoinHostPort(host, port)
}
