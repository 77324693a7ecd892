//go:build unix

// Package pgtest runs a real PostgreSQL server for tests: one server per
// test binary, started on first use, and a database of its own for each
// test, so that a package's tests can run in parallel against it.
//
// The server is initialised (initdb) in a temporary directory and listens
// only on a Unix socket there: no TCP port to collide over, nothing
// reachable from elsewhere, trust authentication. PostgreSQL refuses to
// run as root, so a test binary running as root (as CI does) runs it as
// the unprivileged system user postern-test, created with useradd if it
// does not exist; otherwise it runs as the test's own user. fsync is off:
// nothing here needs to survive a crash of the machine.
//
// The binaries are found through, in order:
//
//   - $POSTERN_PG_BINDIR, a directory holding initdb and postgres;
//   - initdb on $PATH;
//   - Debian's /usr/lib/postgresql/<version>/bin, the newest version.
//
// When none exists, the test is skipped with a message naming
// ./scripts/install-test-deps, unless $CI is set (and not "false") or
// POSTERN_REQUIRE_POSTGRES=1, in which case it fails: CI must not pass by
// skipping the PostgreSQL tests.
//
// A package using it calls Main (or Run) from its TestMain, which stops
// the server and removes its directory when the tests are done:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
package pgtest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is the system user the server runs as when the tests run as root.
const User = "postern-test"

// superuser is the database superuser initdb creates, and the role tests
// connect as.
const superuser = "postern"

// startTimeout bounds how long starting the server may take (initdb
// included) before the test fails.
const startTimeout = 60 * time.Second

var (
	mainCalled atomic.Bool

	// mu guards shared, the server of this test binary, and startErr,
	// why starting it failed (not retried: every test would wait again).
	mu       sync.Mutex
	shared   *server
	startErr error

	dbSeq atomic.Int64
)

// Main runs the tests, stops the server if one was started, and exits
// with the tests' code.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run runs the tests and stops the server if one was started, for a
// TestMain with more to do before it exits; it returns the tests' code,
// made 1 if the server did not stop cleanly.
func Run(m *testing.M) int {
	mainCalled.Store(true)
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		shared = nil
	}
	return code
}

// BinDir returns the directory of the PostgreSQL binaries, and whether
// one was found.
func BinDir() (string, bool) {
	if d := os.Getenv("POSTERN_PG_BINDIR"); d != "" {
		return d, isExecutable(filepath.Join(d, "initdb"))
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), true
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// The newest version: numerically, so that 9.6 < 15 < 16.
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(a)), 64)
		vb, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(b)), 64)
		return cmp.Compare(vb, va)
	})
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) {
			return d, true
		}
	}
	return "", false
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// required reports whether a missing PostgreSQL must fail the test.
func required() bool {
	ci := os.Getenv("CI")
	return (ci != "" && ci != "false" && ci != "0") || os.Getenv("POSTERN_REQUIRE_POSTGRES") == "1"
}

// NewDatabase creates an empty database for t on the test binary's
// server, starting the server on first use, and returns its connection
// URL. The database is dropped, and its connections ended, when t ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("pgtest: call pgtest.Main(m) or pgtest.Run(m) from the package's TestMain, which stops the server")
	}
	bin, ok := BinDir()
	if !ok {
		msg := "PostgreSQL not found (no initdb in $POSTERN_PG_BINDIR, on $PATH or in /usr/lib/postgresql/*/bin): run ./scripts/install-test-deps"
		if os.Getenv("POSTERN_PG_BINDIR") != "" {
			t.Fatalf("pgtest: POSTERN_PG_BINDIR=%s holds no initdb", os.Getenv("POSTERN_PG_BINDIR"))
		}
		if required() {
			t.Fatalf("pgtest: %s (CI or POSTERN_REQUIRE_POSTGRES=1 forbids skipping)", msg)
		}
		t.Skipf("pgtest: %s", msg)
	}
	srv, err := sharedServer(bin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := srv.admin(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		// FORCE ends connections a test left open rather than failing.
		if err := srv.admin(ctx, `DROP DATABASE `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return srv.url(name)
}

func sharedServer(bin string) (*server, error) {
	mu.Lock()
	defer mu.Unlock()
	if shared == nil && startErr == nil {
		shared, startErr = start(bin)
	}
	return shared, startErr
}

// server is a running PostgreSQL server.
type server struct {
	dir     string // temporary directory: data/ and the socket
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	log     *syncBuffer   // the server's output
	waitMu  sync.Mutex    // guards waitErr
	waitErr error
}

// url returns the connection URL of database db: the superuser, over
// the socket in the server's directory.
func (s *server) url(db string) string {
	q := url.Values{"host": {s.dir}, "sslmode": {"disable"}}
	return "postgres://" + superuser + "@/" + url.PathEscape(db) + "?" + q.Encode()
}

// admin runs a statement as the superuser, on the postgres database.
func (s *server) admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.url("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// ownerFile, in a server's directory, holds the PID of the test binary
// that made it, so that a later one can tell a directory left behind by
// a binary that died (killed at a timeout: Main never stopped its server)
// from one in use.
const ownerFile = "owner.pid"

func start(bin string) (*server, error) {
	cred, owner, err := credential()
	if err != nil {
		return nil, err
	}
	removeAbandoned()
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if owner != nil {
		if err := os.Chown(dir, owner.uid, owner.gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	s := &server{dir: dir, done: make(chan struct{}), log: &syncBuffer{}}
	fail := func(err error) (*server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "--pgdata", data, "--username", superuser,
		"--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync")
	initdb.SysProcAttr = procAttr(cred)
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %v\n%s", err, out))
	}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=",
		"-c", "unix_socket_directories="+dir,
		"-c", "max_connections=200",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = procAttr(cred)
	if err := s.cmd.Start(); err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}
	go func() {
		err := s.cmd.Wait()
		s.waitMu.Lock()
		s.waitErr = err
		s.waitMu.Unlock()
		close(s.done)
	}()
	if err := s.waitReady(); err != nil {
		s.stop()
		return nil, fmt.Errorf("%w\n%s", err, s.log.String())
	}
	return s, nil
}

// waitReady waits until the server accepts connections, it exits, or
// startTimeout passes.
func (s *server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		err := s.admin(ctx, `SELECT 1`)
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return errors.New("postgres exited while starting")
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections within %v: %v", startTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop shuts the server down (fast shutdown: connections are ended) and
// removes its directory.
func (s *server) stop() error {
	defer os.RemoveAll(s.dir)
	select {
	case <-s.done:
	default:
		s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(startTimeout):
			s.cmd.Process.Kill()
			<-s.done
			return fmt.Errorf("postgres did not shut down within %v; killed", startTimeout)
		}
	}
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	if s.waitErr != nil {
		return fmt.Errorf("postgres: %v\n%s", s.waitErr, s.log.String())
	}
	return nil
}

// removeAbandoned removes the directories of servers whose test binary
// has died: a data directory is tens of megabytes. Their servers are gone
// too (Pdeathsig). A directory without its owner's PID yet is being made
// and is left alone, as is one whose owner still runs.
func removeAbandoned() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgtest-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}

type ids struct{ uid, gid int }

// credential returns whom the server runs as: nil (the test's own user)
// unless the test runs as root, then User, created if missing.
func credential() (*syscall.Credential, *ids, error) {
	if os.Geteuid() != 0 {
		return nil, nil, nil
	}
	u, err := ensureUser()
	if err != nil {
		return nil, nil, err
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return nil, nil, fmt.Errorf("user %s: %w", User, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, &ids{uid, gid}, nil
}

// ensureUser looks User up, creating it (a system user without a home or
// a login shell) if it does not exist. Test binaries of several packages
// may do so at once: useradd fails for all but one of them, and those
// find the user on looking again.
func ensureUser() (*user.User, error) {
	var lastErr error
	for range 20 {
		if u, err := user.Lookup(User); err == nil {
			return u, nil
		}
		out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", User).CombinedOutput()
		if err == nil {
			continue
		}
		lastErr = fmt.Errorf("useradd %s: %v: %s", User, err, bytes.TrimSpace(out))
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("tests run as root, and PostgreSQL will not: %w", lastErr)
}

// syncBuffer is a bytes.Buffer safe for the server's output and a test's
// reading of it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.b.String())
}

// SetReachable makes database name, one NewDatabase returned the URL of,
// refuse every connection and end those it has (reachable false), as a
// database server that went away does to its clients, or accept them
// again (true).
func SetReachable(t testing.TB, dbURL string, reachable bool) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	mu.Lock()
	srv := shared
	mu.Unlock()
	if srv == nil {
		t.Fatal("pgtest: SetReachable before NewDatabase")
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	ident := pgx.Identifier{name}.Sanitize()
	if err := srv.admin(ctx, fmt.Sprintf(`ALTER DATABASE %s WITH ALLOW_CONNECTIONS %t`, ident, reachable)); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if !reachable {
		lit := strings.ReplaceAll(name, "'", "''")
		if err := srv.admin(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '`+lit+`' AND pid <> pg_backend_pid()`); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
}
