// Package desktop runs a remote desktop connection at the server: one
// desktop engine process (postern-desktop, FreeRDP behind the Guacamole
// protocol) per connection, the browsers that show it, and the recording.
//
// The engine is a separate program so that a crash in an RDP decoder ends
// one connection, not the server, and the server stays pure Go. It reaches
// the node's RDP server through a Unix socket in a private directory whose
// every connection the server carries to the node through the agent
// (Deps.Carry: the session's relay, which records it as a port session's
// connection). What the engine writes for the viewer is, instruction for
// instruction, what the owner's browser is sent and what the recording
// keeps (Deps.Record), so playback shows exactly what the user saw.
//
// Viewers: one owner, who types and sets the pace (the engine sends at
// most a few frames the owner has not acknowledged, so a slow browser gets
// fewer, coarser frames, never a growing backlog), and any number of
// read-only watchers, who never slow the owner (one that falls too far
// behind is dropped with a message and may come back). While no owner is
// attached the connection acknowledges frames itself, so the recording
// goes on, for at most Deps.Grace before it ends the connection.
package desktop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/postern/postern/guac"
	"github.com/postern/postern/logger"
	"github.com/postern/postern/recording"
)

// ProgramName is the desktop engine's executable name.
const ProgramName = "postern-desktop"

// FindProgram returns the desktop engine to run: configured if set, else
// postern-desktop beside the running executable, else on PATH.
func FindProgram(configured string) (string, error) {
	if configured != "" {
		if _, err := os.Stat(configured); err != nil {
			return "", fmt.Errorf("the desktop program %s: %w", configured, err)
		}
		return configured, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), ProgramName)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(ProgramName); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s was not found beside the server's executable or on PATH: build it with `go build ./cmd/postern-desktop` (Linux, needs Debian's freerdp2-dev) and put it on PATH, or set desktop.program in the server's configuration", ProgramName)
}

// Login is what the owner's browser sends to open the connection: the
// desktop's credentials (used for NLA, never stored or recorded) and the
// browser's display.
type Login struct {
	Username, Password, Domain string
	// Security is nla, tls, rdp or any. Empty credentials with tls let
	// the user sign in on the desktop's own screen.
	Security      string
	Width, Height int
	DPI           int
}

// ParseLogin reads the login instruction:
// login,USERNAME,PASSWORD,DOMAIN,SECURITY,WIDTH,HEIGHT,DPI.
func ParseLogin(in guac.Instruction) (Login, error) {
	if in.Opcode != "login" {
		return Login{}, fmt.Errorf("the first instruction must be login, not %q", in.Opcode)
	}
	if len(in.Args) != 7 {
		return Login{}, fmt.Errorf("login takes 7 arguments (username, password, domain, security, width, height, dpi), not %d", len(in.Args))
	}
	l := Login{Username: in.Args[0], Password: in.Args[1], Domain: in.Args[2], Security: in.Args[3]}
	switch l.Security {
	case "":
		l.Security = "any"
	case "any", "nla", "tls", "rdp":
	default:
		return Login{}, fmt.Errorf("security %q must be nla, tls, rdp or any", l.Security)
	}
	if l.Security == "nla" && l.Username == "" {
		return Login{}, errors.New("NLA needs the desktop's user name and password (or choose to sign in on the desktop's screen, without NLA)")
	}
	if len(l.Username) > 256 || len(l.Domain) > 256 || len(l.Password) > 1024 {
		return Login{}, errors.New("user name, domain or password too long")
	}
	var err error
	if l.Width, err = dimension(in.Args[4], "width"); err != nil {
		return Login{}, err
	}
	if l.Height, err = dimension(in.Args[5], "height"); err != nil {
		return Login{}, err
	}
	if l.DPI, err = strconv.Atoi(in.Args[6]); err != nil || l.DPI < 48 || l.DPI > 480 {
		l.DPI = 96
	}
	return l, nil
}

// Desktop sizes a viewer may ask for, as RDP allows them.
const minSize, maxSize = 200, 8192

func dimension(s, what string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < minSize || n > maxSize {
		return 0, fmt.Errorf("%s %q must be a number of pixels from %d to %d", what, s, minSize, maxSize)
	}
	return n, nil
}

// Deps are what a connection needs from the server around it.
type Deps struct {
	Program string // the engine's executable (FindProgram)
	// SocketDir holds the private directory of each connection's Unix
	// socket; the data directory, not a world-writable one.
	SocketDir string
	// Carry carries one connection of the engine to the node's RDP
	// server until either side ends it, and records it.
	Carry func(ctx context.Context, conn net.Conn) error
	// Record appends a record to the session's journal. An error means
	// the recording cannot keep up (a full disk): the connection ends
	// rather than show what is not recorded.
	Record func(kind recording.Kind, data []byte) error
	// Touch marks the user active (input), for the idle timeout.
	Touch func()
	// Ended is called once the engine has exited, with how; it returns
	// what the viewers are told last.
	Ended func(Result) (message string, code guac.Status)
	Logf  logger.Logf
	// Grace is how long the connection waits for its owner's browser to
	// come back before it ends.
	Grace time.Duration
	// RecordKeys records the owner's key events (opt-in).
	RecordKeys bool
}

// Result is how the engine ended.
type Result struct {
	// Err is what the engine reported before it failed, or why it is
	// taken to have failed (a crash); nil after a clean end.
	Err *EngineError
	// Exit is the process's exit status as the OS gives it ("exit status
	// 1", "signal: killed").
	Exit string
	// Closed says the desktop itself ended the session (a logoff), with
	// its reason; Err is nil then.
	Closed string
	// Disconnected says the owner asked to disconnect.
	Disconnected bool
	// Connected says the desktop accepted the connection at some point.
	Connected bool
}

// EngineError is a failure the engine reported, with the Guacamole status
// it gave it.
type EngineError struct {
	Code    guac.Status
	Message string
	reason  string // the status reason, where the code does not say it
}

func (e *EngineError) Error() string { return e.Message }

// Reason is the session's status reason for a failure, as history and
// events show it.
func (e *EngineError) Reason() string {
	if e.reason != "" {
		return e.reason
	}
	switch e.Code {
	case guac.StatusClientUnauthorized, guac.StatusClientForbidden:
		return "DesktopAuthenticationFailed"
	case guac.StatusUpstreamNotFound, guac.StatusUpstreamUnavailable:
		return "DesktopUnreachable"
	case guac.StatusUpstreamTimeout:
		return "DesktopTimeout"
	case guac.StatusUpstreamError:
		return "DesktopConnectionFailed"
	}
	return "DesktopProgramFailed"
}

// config is the engine's first line on its standard input.
type config struct {
	Address               string `json:"address"`
	Username              string `json:"username,omitempty"`
	Password              string `json:"password,omitempty"`
	Domain                string `json:"domain,omitempty"`
	Security              string `json:"security"`
	Width                 int    `json:"width"`
	Height                int    `json:"height"`
	DPI                   int    `json:"dpi"`
	ConnectTimeoutSeconds int    `json:"connectTimeoutSeconds"`
}

// Limits that keep one connection's memory bounded whatever its peers do.
const (
	// recordChunk bounds one KindDisplay record and one message to a
	// browser: a frame bigger than this goes out in pieces (whole
	// instructions each).
	recordChunk = 256 << 10
	// watcherBacklog is how much may wait for a watcher; beyond it the
	// watcher is dropped (it never slows the owner).
	watcherBacklog = 16 << 20
	// ownerBacklog bounds the owner's queue too: the engine's flow
	// control keeps it to a few frames, so reaching it means something
	// is wrong, and the owner is dropped (and may reconnect).
	ownerBacklog = 64 << 20
	// maxCarried bounds the engine's concurrent connections to the node
	// (FreeRDP reconnects, and redirection, open a new one).
	maxCarried = 4
	// stopWait is how long a disconnected engine gets to exit before it
	// is killed.
	stopWait = 10 * time.Second
	// refreshEvery is how often a viewer joining may have the engine send
	// the whole screen; joins in between share the next one.
	refreshEvery = time.Second
	// connectTimeout is the engine's bound on reaching the desktop.
	connectTimeout = 20 * time.Second
)

// Conn is one desktop connection.
type Conn struct {
	d      Deps
	cmd    *exec.Cmd
	dir    string
	ln     net.Listener
	cancel context.CancelFunc

	inMu  sync.Mutex // guards stdin: instructions are written whole
	stdin io.WriteCloser

	mu           sync.Mutex // guards what follows
	owner        *viewer
	watchers     map[*viewer]struct{}
	ownerGone    *time.Timer // runs while no owner is attached
	reported     *EngineError
	closedBy     string // the desktop's reason for ending the session
	disconnected bool   // the owner asked
	connected    bool
	final        []byte // the last message, once the engine has ended
	// lastSync is the engine's latest sync timestamp: acknowledged for
	// an owner who leaves, whose unacknowledged frames would otherwise
	// hold the engine (and the recording) until someone comes back.
	lastSync string
	// lastRefresh and refreshDue rate-limit refresh (a full-screen frame
	// for every viewer, recorded): a watcher reconnecting in a loop must
	// not flood the owner or the recording.
	lastRefresh time.Time
	refreshDue  *time.Timer

	done chan struct{}
	res  Result
}

// Start starts the engine for login and returns once it runs. The
// connection ends with ctx, when the engine exits, or on Close.
func Start(ctx context.Context, d Deps, login Login, info func(recording.DesktopInfo)) (*Conn, error) {
	dir, err := os.MkdirTemp(d.SocketDir, "desktop-")
	if err != nil {
		return nil, fmt.Errorf("desktop: socket directory: %w", err)
	}
	sock := filepath.Join(dir, "rdp.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("desktop: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &Conn{d: d, dir: dir, ln: ln, cancel: cancel, watchers: map[*viewer]struct{}{}, done: make(chan struct{})}
	c.cmd = exec.Command(d.Program)
	c.cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir} // nothing of the server's environment
	stdin, err := c.cmd.StdinPipe()
	if err == nil {
		c.stdin = stdin
	}
	stdout, err2 := c.cmd.StdoutPipe()
	stderr, err3 := c.cmd.StderrPipe()
	if err := errors.Join(err, err2, err3); err != nil {
		c.cleanup()
		return nil, fmt.Errorf("desktop: %w", err)
	}
	if err := c.cmd.Start(); err != nil {
		c.cleanup()
		return nil, fmt.Errorf("desktop: starting %s: %w", d.Program, err)
	}
	cfg, err := json.Marshal(config{
		Address: sock, Username: login.Username, Password: login.Password, Domain: login.Domain,
		Security: login.Security, Width: login.Width, Height: login.Height, DPI: login.DPI,
		ConnectTimeoutSeconds: int(connectTimeout / time.Second),
	})
	if err == nil {
		_, err = c.stdin.Write(append(cfg, '\n'))
	}
	clear(cfg) // the password goes no further than the engine
	if err != nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
		c.cleanup()
		return nil, fmt.Errorf("desktop: configuring the engine: %w", err)
	}
	if info != nil {
		info(recording.DesktopInfo{User: login.Username, Domain: login.Domain, Security: login.Security})
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); c.accept(ctx) }()
	go func() { defer wg.Done(); c.logStderr(stderr) }()
	go func() { defer wg.Done(); c.readEngine(stdout, info) }()
	go func() {
		// The owner of everything above: once the engine's output has
		// ended, the engine is reaped and the connection ends.
		<-ctx.Done()
		c.stop()
	}()
	go func() {
		wg.Wait()
		c.finish()
	}()
	return c, nil
}

// Done is closed once the connection has ended and its viewers were told.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Result is how the engine ended; valid once Done is closed.
func (c *Conn) Result() Result { return c.res }

// Close ends the connection: the engine is asked to disconnect, and killed
// if it does not exit within stopWait.
func (c *Conn) Close() { c.cancel() }

// stop asks the engine to disconnect, closes its input, and kills it if
// it lingers.
func (c *Conn) stop() {
	// The timer runs first: an engine that no longer reads its input
	// would block the disconnect's write, and must still be killed.
	t := time.NewTimer(stopWait)
	defer t.Stop()
	go func() {
		c.send(guac.Encode("disconnect"))
		c.inMu.Lock()
		c.stdin.Close()
		c.inMu.Unlock()
	}()
	c.ln.Close()
	select {
	case <-c.done:
	case <-t.C:
		c.d.Logf("desktop: the engine did not exit within %v of being asked; killing it", stopWait)
		c.cmd.Process.Kill()
	}
}

func (c *Conn) cleanup() {
	c.ln.Close()
	os.RemoveAll(c.dir)
	c.cancel()
}

// accept carries each connection the engine opens to the node.
func (c *Conn) accept(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, maxCarried)
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return // closed by stop
		}
		select {
		case sem <- struct{}{}:
		default:
			c.d.Logf("desktop: the engine opened more than %d connections at once; refusing another", maxCarried)
			conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer conn.Close()
			if err := c.d.Carry(ctx, conn); err != nil {
				c.d.Logf("desktop: carrying a connection to the node: %v", err)
			}
		}()
	}
}

// logStderr passes the engine's log lines on, bounded.
func (c *Conn) logStderr(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 4096)
	for {
		if !sc.Scan() {
			if errors.Is(sc.Err(), bufio.ErrTooLong) {
				continue // a long line is cut, and reading goes on
			}
			return
		}
		c.d.Logf("desktop engine: %s", sc.Text())
	}
}

// send writes instructions to the engine's input. A write that fails
// means the engine is gone; its exit says why.
func (c *Conn) send(b []byte) {
	c.inMu.Lock()
	defer c.inMu.Unlock()
	c.stdin.Write(b)
}

// readEngine reads what the engine writes for the viewer: it is recorded
// and sent to the viewers, a frame (up to its sync) at a time.
func (c *Conn) readEngine(stdout io.Reader, info func(recording.DesktopInfo)) {
	r := guac.NewReader(stdout, 0)
	var batch []byte
	recorded := true
	flush := func() {
		if !recorded {
			batch = batch[:0]
			return
		}
		if len(batch) == 0 {
			return
		}
		msg := bytes.Clone(batch)
		batch = batch[:0]
		if err := c.d.Record(recording.KindDisplay, msg); err != nil {
			// Nobody sees what is not recorded.
			recorded = false
			batch = batch[:0]
			c.report(&EngineError{Code: guac.StatusServerError, Message: "the desktop connection ended: " + err.Error(), reason: "RecordingFailed"})
			c.cmd.Process.Kill()
			return
		}
		c.broadcast(msg)
	}
	for {
		in, raw, err := r.Next()
		if err != nil {
			flush()
			// The engine is done with the desktop: no more connections
			// to carry (and accept, which waits on it, can end).
			c.ln.Close()
			if err != io.EOF {
				c.report(&EngineError{Code: guac.StatusServerError, Message: fmt.Sprintf("the desktop program wrote what is not the Guacamole protocol: %v", err)})
				c.cmd.Process.Kill()
				io.Copy(io.Discard, stdout)
			}
			return
		}
		switch in.Opcode {
		case "postern-connected":
			c.connectedAs(in, info)
			continue
		case "error":
			e := &EngineError{Code: guac.StatusServerError}
			if len(in.Args) > 0 {
				e.Message = in.Args[0]
			}
			if len(in.Args) > 1 {
				if n, err := strconv.Atoi(in.Args[1]); err == nil {
					e.Code = guac.Status(n)
				}
			}
			if e.Code == guac.StatusSessionClosed {
				c.mu.Lock()
				c.closedBy = e.Message
				c.mu.Unlock()
			} else {
				c.report(e)
			}
			continue // the viewers hear how it ended from finish
		}
		batch = append(batch, raw...)
		if in.Opcode == "sync" {
			flush()
			c.mu.Lock()
			unwatched := c.owner == nil
			if len(in.Args) > 0 {
				c.lastSync = in.Args[0]
			}
			c.mu.Unlock()
			if unwatched && len(in.Args) > 0 {
				// Nobody sets the pace: the recording goes on.
				c.send(guac.Encode("sync", in.Args[0]))
			}
		} else if len(batch) >= recordChunk {
			flush()
		}
	}
}

func (c *Conn) connectedAs(in guac.Instruction, info func(recording.DesktopInfo)) {
	c.mu.Lock()
	c.connected = true
	c.mu.Unlock()
	if info == nil {
		return
	}
	d := recording.DesktopInfo{Connected: true}
	if len(in.Args) > 0 {
		d.Certificate = in.Args[0]
	}
	if len(in.Args) > 2 {
		d.Width, _ = strconv.Atoi(in.Args[1])
		d.Height, _ = strconv.Atoi(in.Args[2])
	}
	info(d)
}

// report keeps the first failure the engine reported (or the server saw).
func (c *Conn) report(e *EngineError) {
	c.mu.Lock()
	if c.reported == nil {
		c.reported = e
	}
	c.mu.Unlock()
}

// finish reaps the engine, decides how the connection ended, and tells the
// viewers.
func (c *Conn) finish() {
	err := c.cmd.Wait()
	c.cleanup()
	c.mu.Lock()
	res := Result{Err: c.reported, Closed: c.closedBy, Disconnected: c.disconnected, Connected: c.connected}
	if c.ownerGone != nil {
		c.ownerGone.Stop()
	}
	if c.refreshDue != nil {
		c.refreshDue.Stop()
	}
	c.mu.Unlock()
	res.Exit = "exit status 0"
	if err != nil {
		res.Exit = err.Error()
		var ee *exec.ExitError
		if res.Err == nil && errors.As(err, &ee) {
			// It died without saying why: a crash, or killed.
			res.Err = &EngineError{Code: guac.StatusServerError, Message: fmt.Sprintf("the desktop program stopped unexpectedly (%v); the connection is over", err)}
		}
	}
	if res.Err != nil {
		res.Closed = ""
	}
	c.d.Logf("desktop: the engine exited: %s", res.Exit)
	c.res = res
	msg, code := c.d.Ended(res)
	final := guac.ErrorInstruction(msg, code)
	c.mu.Lock()
	c.final = final
	vs := make([]*viewer, 0, len(c.watchers)+1)
	if c.owner != nil {
		vs = append(vs, c.owner)
	}
	for v := range c.watchers {
		vs = append(vs, v)
	}
	c.mu.Unlock()
	for _, v := range vs {
		v.end(final)
	}
	close(c.done)
}

// broadcast queues msg for every viewer.
func (c *Conn) broadcast(msg []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner != nil && !c.owner.enqueue(msg, ownerBacklog) {
		c.d.Logf("desktop: the owner's browser fell %d bytes behind; dropping it (it may reconnect)", ownerBacklog)
		c.owner.end(guac.ErrorInstruction("your browser fell too far behind the desktop; reconnect to go on", guac.StatusClientOverrun))
		c.owner = nil
		c.ownerLeftLocked()
	}
	for v := range c.watchers {
		if !v.enqueue(msg, watcherBacklog) {
			v.end(guac.ErrorInstruction("this view fell too far behind the desktop; reconnect to watch again", guac.StatusClientOverrun))
			delete(c.watchers, v)
		}
	}
}

// ownerLeftLocked starts the owner's grace period, and acknowledges what
// the engine sent the owner, so that it goes on (for the recording and the
// watchers) without them. c.mu must be held.
func (c *Conn) ownerLeftLocked() {
	if ts := c.lastSync; ts != "" {
		// Acks are cumulative; sent from a goroutine of its own because
		// c.mu is held and the engine's input may be slow to take it.
		go c.send(guac.Encode("sync", ts))
	}
	if c.ownerGone != nil {
		c.ownerGone.Stop()
	}
	c.ownerGone = time.AfterFunc(c.d.Grace, func() {
		c.mu.Lock()
		back := c.owner != nil
		c.mu.Unlock()
		if !back {
			c.d.Logf("desktop: the owner's browser did not come back within %v; ending the connection", c.d.Grace)
			c.Close()
		}
	})
}

// Transport is a browser's WebSocket as a connection uses it: one message
// holds whole instructions.
type Transport interface {
	Read(ctx context.Context) ([]byte, error)
	Write(ctx context.Context, msg []byte) error
}

// ErrEnded is returned by Serve for a connection that has already ended.
var ErrEnded = errors.New("the desktop connection has ended")

// Serve shows the connection to one browser until it leaves or the
// connection ends. The owner (watch false) types and sets the pace; a
// newer owner replaces an older one. Messages from the browser that are
// not the protocol end its view with a clear error.
func (c *Conn) Serve(ctx context.Context, t Transport, watch bool) error {
	v := newViewer()
	c.mu.Lock()
	if c.final != nil {
		final := c.final
		c.mu.Unlock()
		t.Write(ctx, final)
		return ErrEnded
	}
	if watch {
		c.watchers[v] = struct{}{}
	} else {
		if old := c.owner; old != nil {
			old.end(guac.ErrorInstruction("the desktop was opened in another window", guac.StatusSessionConflict))
		}
		c.owner = v
		if c.ownerGone != nil {
			c.ownerGone.Stop()
			c.ownerGone = nil
		}
	}
	c.mu.Unlock()
	// A viewer that joins mid-connection needs the whole screen.
	c.refresh()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	writeDone := make(chan error, 1)
	go func() { writeDone <- v.writeLoop(ctx, t) }()
	readErr := make(chan error, 1)
	go func() { readErr <- c.readViewer(ctx, t, v, watch) }()
	var err error
	select {
	case err = <-readErr:
		// The browser left (or sent what cannot be read): what is
		// queued for it is of no more use.
		if err != nil && !errors.Is(err, errLeft) {
			v.end(guac.ErrorInstruction(err.Error(), guac.StatusClientBadRequest))
		} else {
			v.end(nil)
		}
		select {
		case <-writeDone:
		case <-time.After(time.Second):
		}
	case err = <-writeDone:
	}
	cancel()
	c.mu.Lock()
	if watch {
		delete(c.watchers, v)
	} else if c.owner == v {
		c.owner = nil
		if c.final == nil && !c.disconnected {
			c.ownerLeftLocked()
		}
	}
	c.mu.Unlock()
	return err
}

// refresh asks the engine for the whole screen, at most once per
// refreshEvery: joins in between get the one that comes next.
func (c *Conn) refresh() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refreshDue != nil {
		return // one is coming
	}
	wait := refreshEvery - time.Since(c.lastRefresh)
	if wait <= 0 {
		c.lastRefresh = time.Now()
		go c.send(guac.Encode("refresh"))
		return
	}
	c.refreshDue = time.AfterFunc(wait, func() {
		c.mu.Lock()
		c.refreshDue = nil
		c.lastRefresh = time.Now()
		c.mu.Unlock()
		c.send(guac.Encode("refresh"))
	})
}

// errLeft is a browser that closed its socket or said disconnect.
var errLeft = errors.New("left")

// readViewer reads one browser's instructions and passes the owner's on.
func (c *Conn) readViewer(ctx context.Context, t Transport, v *viewer, watch bool) error {
	for {
		msg, err := t.Read(ctx)
		if err != nil {
			return errLeft
		}
		r := guac.NewReader(bytes.NewReader(msg), 0)
		for {
			in, raw, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("your browser sent what is not the Guacamole protocol: %v", err)
			}
			if err := c.input(in, raw, v, watch); err != nil {
				return err
			}
		}
	}
}

// input handles one instruction from a browser.
func (c *Conn) input(in guac.Instruction, raw []byte, v *viewer, watch bool) error {
	switch in.Opcode {
	case "":
		// guacamole-common-js's tunnel pings: echoed, for everyone.
		if len(in.Args) > 0 && in.Args[0] == "ping" {
			v.enqueue(bytes.Clone(raw), watcherBacklog)
		}
		return nil
	case "nop", "login":
		return nil
	}
	if watch {
		return nil // a watcher's input goes nowhere; its syncs set no pace
	}
	switch in.Opcode {
	case "sync":
		if err := numbers(in, 1, 1); err != nil {
			return err
		}
	case "mouse":
		if err := numbers(in, 3, 3); err != nil {
			return err
		}
		c.d.Touch()
	case "key":
		if err := numbers(in, 2, 2); err != nil {
			return err
		}
		c.d.Touch()
		if c.d.RecordKeys {
			if err := c.d.Record(recording.KindKey, bytes.Clone(raw)); err != nil {
				// No key goes unrecorded: the connection ends.
				c.report(&EngineError{Code: guac.StatusServerError, Message: "the desktop connection ended: " + err.Error(), reason: "RecordingFailed"})
				c.cmd.Process.Kill()
				return errLeft
			}
		}
	case "size":
		if err := numbers(in, 2, 3); err != nil {
			return err
		}
	case "clipboard", "blob", "end":
		c.d.Touch()
	case "disconnect":
		c.mu.Lock()
		c.disconnected = true
		c.mu.Unlock()
		c.Close()
		return errLeft
	default:
		return nil // what the engine would not understand is not passed on
	}
	c.send(in.AppendTo(nil))
	return nil
}

// numbers checks that in has from min to max arguments, all integers.
func numbers(in guac.Instruction, min, max int) error {
	if len(in.Args) < min || len(in.Args) > max {
		return fmt.Errorf("%s takes %d to %d arguments, not %d", in.Opcode, min, max, len(in.Args))
	}
	for i, a := range in.Args {
		if _, err := strconv.ParseInt(a, 10, 64); err != nil {
			return fmt.Errorf("%s: argument %d (%q) is not a number", in.Opcode, i+1, a)
		}
	}
	return nil
}

// viewer is one browser's queue of messages.
type viewer struct {
	mu     sync.Mutex // guards the queue
	queue  [][]byte
	queued int
	ended  bool
	last   []byte        // the final message, sent once the queue is dropped
	kick   chan struct{} // something queued, or ended
}

func newViewer() *viewer { return &viewer{kick: make(chan struct{}, 1)} }

// enqueue queues msg, reporting false if that would exceed limit (the
// message is not queued then).
func (v *viewer) enqueue(msg []byte, limit int) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ended {
		return true
	}
	if v.queued+len(msg) > limit {
		return false
	}
	v.queue = append(v.queue, msg)
	v.queued += len(msg)
	v.wake()
	return true
}

// end drops what is queued and makes final (if any) the last message.
func (v *viewer) end(final []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ended && final == nil {
		return
	}
	v.ended = true
	clear(v.queue)
	v.queue, v.queued = nil, 0
	if final != nil {
		v.last = final
	}
	v.wake()
}

func (v *viewer) wake() {
	select {
	case v.kick <- struct{}{}:
	default:
	}
}

// writeLoop sends the queue to the browser until the viewer ends.
func (v *viewer) writeLoop(ctx context.Context, t Transport) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-v.kick:
		}
		for {
			v.mu.Lock()
			if v.ended {
				last := v.last
				v.mu.Unlock()
				if last != nil {
					t.Write(ctx, last)
				}
				return ErrEnded
			}
			if len(v.queue) == 0 {
				v.mu.Unlock()
				break
			}
			msg := v.queue[0]
			v.queue[0] = nil
			v.queue = v.queue[1:]
			v.queued -= len(msg)
			v.mu.Unlock()
			if err := t.Write(ctx, msg); err != nil {
				return err
			}
		}
	}
}
