//go:build linux && cgo

package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/desktop/desktoptest"
	"github.com/postern/postern/guac"
)

// engineBin is postern-desktop built once for the tests, as the server runs
// it: a separate program fed on stdin.
var engineBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "postern-desktop-test")
	if err != nil {
		panic(err)
	}
	engineBin = filepath.Join(dir, "postern-desktop")
	if out, err := exec.Command("go", "build", "-o", engineBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// viewer drives postern-desktop as the server does and keeps the screen it
// draws from the engine's instructions.
type viewer struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	ins    chan guac.Instruction
	stderr *syncBuffer
	exited chan struct{}

	screen  *image.RGBA
	streams map[string]*imgStream
	home    string
}

type imgStream struct {
	x, y int
	data []byte
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startEngine(t *testing.T, cfg map[string]any) *viewer {
	t.Helper()
	line, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return startEngineLine(t, append(line, '\n'))
}

func startEngineLine(t *testing.T, line []byte) *viewer {
	t.Helper()
	v := &viewer{t: t, ins: make(chan guac.Instruction, 1024), stderr: &syncBuffer{}, exited: make(chan struct{}),
		streams: map[string]*imgStream{}}
	v.cmd = exec.Command(engineBin)
	// A home of its own: the program may leave nothing in it.
	v.home = t.TempDir()
	v.cmd.Env = append(os.Environ(), "HOME="+v.home, "XDG_CONFIG_HOME="+filepath.Join(v.home, ".config"))
	v.cmd.Stderr = v.stderr
	var err error
	if v.stdin, err = v.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := v.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(v.ins)
		r := guac.NewReader(stdout, 0)
		for {
			in, _, err := r.Next()
			if err != nil {
				if err != io.EOF {
					v.ins <- guac.Instruction{Opcode: "test-read-error", Args: []string{err.Error()}}
				}
				return
			}
			v.ins <- in
		}
	}()
	go func() {
		v.cmd.Wait()
		close(v.exited)
	}()
	t.Cleanup(func() {
		v.cmd.Process.Kill()
		<-v.exited
		if t.Failed() {
			t.Logf("postern-desktop's stderr:\n%s", v.stderr.String())
		}
	})
	if _, err := v.stdin.Write(line); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *viewer) send(op string, args ...string) {
	v.t.Helper()
	if _, err := v.stdin.Write(guac.Encode(op, args...)); err != nil {
		v.t.Fatalf("writing %s: %v", op, err)
	}
}

// next is the engine's next instruction; the test's deadline bounds the
// wait (go test -timeout).
func (v *viewer) next() guac.Instruction {
	v.t.Helper()
	in, ok := <-v.ins
	if !ok {
		v.t.Fatalf("postern-desktop's stdout ended")
	}
	if in.Opcode == "test-read-error" {
		v.t.Fatalf("postern-desktop wrote bad instructions: %s", in.Args[0])
	}
	return in
}

// apply draws an instruction's effect onto the screen.
func (v *viewer) apply(in guac.Instruction) {
	v.t.Helper()
	switch in.Opcode {
	case "size":
		w, _ := strconv.Atoi(in.Args[1])
		h, _ := strconv.Atoi(in.Args[2])
		if in.Args[0] != "0" || w <= 0 || h <= 0 {
			v.t.Fatalf("bad size %v", in.Args)
		}
		old := v.screen
		v.screen = image.NewRGBA(image.Rect(0, 0, w, h))
		if old != nil {
			draw.Draw(v.screen, old.Rect, old, image.Point{}, draw.Src)
		}
	case "img":
		if len(in.Args) != 6 || in.Args[1] != "14" || in.Args[2] != "0" || in.Args[3] != "image/png" {
			v.t.Fatalf("bad img %v", in.Args)
		}
		x, _ := strconv.Atoi(in.Args[4])
		y, _ := strconv.Atoi(in.Args[5])
		v.streams[in.Args[0]] = &imgStream{x: x, y: y}
	case "blob":
		if len(in.Args[1]) > guac.BlobChunk {
			v.t.Fatalf("blob of %d characters, more than %d", len(in.Args[1]), guac.BlobChunk)
		}
		b, err := base64.StdEncoding.DecodeString(in.Args[1])
		if err != nil {
			v.t.Fatalf("blob: %v", err)
		}
		s := v.streams[in.Args[0]]
		if s == nil {
			v.t.Fatalf("blob on stream %s that has no img", in.Args[0])
		}
		s.data = append(s.data, b...)
	case "end":
		s := v.streams[in.Args[0]]
		delete(v.streams, in.Args[0])
		img, err := png.Decode(bytes.NewReader(s.data))
		if err != nil {
			v.t.Fatalf("png: %v", err)
		}
		if v.screen == nil {
			v.t.Fatalf("img before size")
		}
		b := img.Bounds()
		draw.Draw(v.screen, image.Rect(s.x, s.y, s.x+b.Dx(), s.y+b.Dy()), img, b.Min, draw.Src)
	case "error":
		v.t.Fatalf("postern-desktop: error %v", in.Args)
	}
}

// frame reads and draws one frame (up to its sync) and returns its
// instructions.
func (v *viewer) frame() []guac.Instruction {
	v.t.Helper()
	var f []guac.Instruction
	for {
		in := v.next()
		v.apply(in)
		f = append(f, in)
		if in.Opcode == "sync" {
			return f
		}
	}
}

// connected reads postern-connected and returns the certificate's
// fingerprint.
func (v *viewer) connected() string {
	v.t.Helper()
	in := v.next()
	if in.Opcode != "postern-connected" || len(in.Args) != 3 {
		v.t.Fatalf("first instruction %v, want postern-connected", in)
	}
	return in.Args[0]
}

// waitScreen reads frames, acking each, until the desktop shows its known
// content: the background colour outside the xterm, something else inside.
func (v *viewer) waitScreen(d *desktoptest.Desktop) {
	v.t.Helper()
	for {
		f := v.frame()
		v.send("sync", f[len(f)-1].Args[0])
		if v.screen != nil && v.screen.Rect.Dx() == d.Width && v.showsDesktop(d) {
			return
		}
	}
}

func (v *viewer) showsDesktop(d *desktoptest.Desktop) bool {
	bg := v.screen.RGBAAt(d.Xterm.Min.X/2, d.Xterm.Min.Y/2)
	c := d.Xterm.Min.Add(d.Xterm.Size().Div(2))
	term := v.screen.RGBAAt(c.X, c.Y)
	return bg == desktoptest.Background && term != desktoptest.Background && term != (color.RGBA{})
}

// typeText types s and Enter with key instructions, as the browser does.
func (v *viewer) typeText(s string) {
	for _, r := range s {
		sym := strconv.Itoa(int(r))
		v.send("key", sym, "1")
		v.send("key", sym, "0")
	}
	v.send("key", strconv.Itoa(0xff0d), "1")
	v.send("key", strconv.Itoa(0xff0d), "0")
}

// exit waits for the program to end and returns its exit status.
func (v *viewer) exit() int {
	v.t.Helper()
	<-v.exited
	return v.cmd.ProcessState.ExitCode()
}

// expectError reads until an error instruction and checks its code and the
// exit status.
func (v *viewer) expectError(code guac.Status, status int) string {
	v.t.Helper()
	for {
		in, ok := <-v.ins
		if !ok {
			v.t.Fatalf("stdout ended without an error instruction")
		}
		if in.Opcode != "error" {
			continue
		}
		if len(in.Args) != 2 || in.Args[1] != code.String() {
			v.t.Fatalf("error %q, want code %d", in.Args, code)
		}
		if got := v.exit(); got != status {
			v.t.Fatalf("exit status %d, want %d", got, status)
		}
		return in.Args[0]
	}
}

func (v *viewer) noPassword(password string) {
	v.t.Helper()
	if password != "" && strings.Contains(v.stderr.String(), password) {
		v.t.Fatalf("the password is in postern-desktop's log")
	}
}

func config(addr, user, password, security string) map[string]any {
	return map[string]any{"address": addr, "username": user, "password": password, "domain": "",
		"security": security, "width": 1024, "height": 768, "dpi": 96, "connectTimeoutSeconds": 15}
}

// The whole way over TCP with NLA: the certificate's fingerprint, the
// screen's known pixels, typing into the xterm, refresh, disconnect.
func TestDesktopTCP(t *testing.T) {
	d := desktoptest.Start(t, desktoptest.Options{})
	v := startEngine(t, config(d.Addr, d.User, d.Password, "nla"))
	if fp := v.connected(); len(fp) != 64 {
		t.Fatalf("certificate fingerprint %q, want 64 hex digits", fp)
	}
	first := v.next()
	if first.Opcode != "size" || first.Args[1] != "1024" || first.Args[2] != "768" {
		t.Fatalf("first frame starts with %v, want size,0,1024,768", first)
	}
	v.apply(first)
	v.waitScreen(d)

	v.typeText("hello-rdp")
	d.WaitTyped(t, "hello-rdp\n")

	v.send("refresh")
	var f []guac.Instruction
	for {
		// Frames already under way may come first; the refresh is the
		// frame that starts with size.
		f = v.frame()
		if f[0].Opcode == "size" {
			break
		}
	}
	covered := image.Rectangle{}
	size := 0
	for _, in := range f {
		size += len(in.String())
		if in.Opcode == "img" {
			x, _ := strconv.Atoi(in.Args[4])
			y, _ := strconv.Atoi(in.Args[5])
			covered = covered.Union(image.Rect(x, y, x+1, y+1))
		}
	}
	if !v.showsDesktop(d) || covered.Min != (image.Point{}) {
		t.Fatalf("refresh frame %d instructions, images from %v", len(f), covered)
	}
	t.Logf("a full frame of the test desktop: %d bytes of instructions", size)
	v.send("disconnect")
	if got := v.exit(); got != 0 {
		t.Fatalf("exit status %d after disconnect, want 0", got)
	}
	v.noPassword(d.Password)
	if left, _ := os.ReadDir(v.home); len(left) != 0 {
		t.Fatalf("postern-desktop left %v in its home", left)
	}
}

// The server's end of the agent's tunnel is a Unix socket: FreeRDP
// connects to an address starting with '/' as one.
func TestDesktopUnixSocket(t *testing.T) {
	d := desktoptest.Start(t, desktoptest.Options{})
	sock := filepath.Join(t.TempDir(), "rdp.sock")
	relay(t, sock, d.Addr)
	v := startEngine(t, config(sock, d.User, d.Password, "any"))
	v.connected()
	v.waitScreen(d)
	v.typeText("over-unix")
	d.WaitTyped(t, "over-unix\n")
	v.stdin.Close() // stdin closed: a clean end
	if got := v.exit(); got != 0 {
		t.Fatalf("exit status %d after stdin closed, want 0", got)
	}
}

// relay accepts on a Unix socket and copies to addr, as the server's end
// of the tunnel through the agent does.
func relay(t *testing.T, sock, addr string) {
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(u, c); u.(*net.TCPConn).CloseWrite() }()
			go func() { defer wg.Done(); io.Copy(c, u); c.Close(); u.Close() }()
		}
	}()
}

func TestDesktopWrongPassword(t *testing.T) {
	d := desktoptest.Start(t, desktoptest.Options{})
	v := startEngine(t, config(d.Addr, d.User, "not-"+d.Password, "any"))
	if msg := v.expectError(guac.StatusClientUnauthorized, 1); msg != "the desktop refused the user name or password" {
		t.Fatalf("message %q", msg)
	}
	v.noPassword("not-" + d.Password)
}

func TestDesktopNLAWithoutCredentials(t *testing.T) {
	d := desktoptest.Start(t, desktoptest.Options{})
	v := startEngine(t, config(d.Addr, "", "", "nla"))
	msg := v.expectError(guac.StatusUpstreamError, 1)
	if !strings.Contains(msg, "Network Level Authentication") {
		t.Fatalf("message %q", msg)
	}
}

func TestDesktopNothingListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	v := startEngine(t, config(addr, "u", "p", "any"))
	if msg := v.expectError(guac.StatusUpstreamNotFound, 1); !strings.HasPrefix(msg, "could not reach the node's RDP server: ") {
		t.Fatalf("message %q", msg)
	}
}

// A server that accepts and never answers: the connect timeout.
func TestDesktopConnectTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cfg := config(l.Addr().String(), "u", "p", "any")
	cfg["connectTimeoutSeconds"] = 1
	v := startEngine(t, cfg)
	v.expectError(guac.StatusUpstreamTimeout, 1)
}

// A desktop without NLA: empty credentials, log in on its own screen.
func TestDesktopTLSOnly(t *testing.T) {
	d := desktoptest.Start(t, desktoptest.Options{Security: desktoptest.TLS})
	v := startEngine(t, config(d.Addr, "", "", "tls"))
	v.connected()
	v.waitScreen(d)
	v.send("disconnect")
	if got := v.exit(); got != 0 {
		t.Fatalf("exit status %d, want 0", got)
	}
}

// Without acks, at most 3 frames go out however much the screen changes;
// the changes come in one frame when an ack arrives.
func TestDesktopFlowControl(t *testing.T) {
	d := desktoptest.Start(t, desktoptest.Options{})
	v := startEngine(t, config(d.Addr, d.User, d.Password, "nla"))
	v.connected()
	v.waitScreen(d)

	// The background changes colour until told to stop, each change
	// outlasting a capture of the shadow server (16 a second), so every
	// change is a frame's worth of damage.
	stop := make(chan int)
	changed := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case more := <-stop:
				for j := 0; j < more; j++ {
					if err := setRoot(d, fmt.Sprintf("#%02x8040", (i+j)%256)); err != nil {
						changed <- err
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
				changed <- setRoot(d, "#00ff00")
				return
			default:
			}
			if err := setRoot(d, fmt.Sprintf("#%02x8040", i%256)); err != nil {
				changed <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	var syncs []string
	for len(syncs) < 3 {
		f := v.frame()
		syncs = append(syncs, f[len(f)-1].Args[0])
	}
	// Ten more changes with three frames unacknowledged, then the last
	// colour; nothing may come but what finishes the third frame.
	stop <- 10
	if err := <-changed; err != nil {
		t.Fatal(err)
	}
drain:
	for {
		select {
		case in := <-v.ins:
			if in.Opcode == "sync" {
				t.Fatalf("a 4th frame (sync %v) before any ack", in.Args)
			}
			v.apply(in)
		default:
			break drain
		}
	}
	// Each ack lets one more frame go; the last colour arrives.
	green := color.RGBA{0, 0xff, 0, 0xff}
	for i := 0; v.screen.RGBAAt(5, 5) != green; i++ {
		v.send("sync", syncs[i])
		f := v.frame()
		syncs = append(syncs, f[len(f)-1].Args[0])
	}
}

// The password may not appear in the log, even for a bad config.
func TestDesktopBadConfig(t *testing.T) {
	for _, line := range []string{"not json\n", `{"address":"","password":"sekrit"}` + "\n", `{"address":"h:1","x":1}` + "\n"} {
		v := startEngineLine(t, []byte(line))
		v.stdin.Close()
		if got := v.exit(); got != 2 {
			t.Fatalf("%q: exit status %d, want 2", line, got)
		}
		v.noPassword("sekrit")
	}
}

// setRoot changes the desktop's background colour through X.
func setRoot(d *desktoptest.Desktop, c string) error {
	if out, err := d.Command("xsetroot", "-solid", c).CombinedOutput(); err != nil {
		return fmt.Errorf("xsetroot: %v: %s", err, out)
	}
	return nil
}

// Mouse instructions move the desktop's pointer.
func TestDesktopMouse(t *testing.T) {
	d := desktoptest.Start(t, desktoptest.Options{})
	v := startEngine(t, config(d.Addr, d.User, d.Password, "nla"))
	v.connected()
	v.waitScreen(d)
	for _, p := range []image.Point{{321, 123}, {700, 600}} {
		v.send("mouse", strconv.Itoa(p.X), strconv.Itoa(p.Y), "0")
		for {
			// The move reaches X through the RDP server's input queue.
			at, err := d.Pointer()
			if err != nil {
				t.Fatal(err)
			}
			if at == p {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	v.send("disconnect")
	if got := v.exit(); got != 0 {
		t.Fatalf("exit status %d", got)
	}
}

// The RDP server dies mid-connection: an error for the viewer, exit 1.
func TestDesktopServerGone(t *testing.T) {
	d := desktoptest.Start(t, desktoptest.Options{})
	v := startEngine(t, config(d.Addr, d.User, d.Password, "nla"))
	v.connected()
	v.waitScreen(d)
	d.StopRDP()
	if msg := v.expectError(guac.StatusUpstreamError, 1); msg != "the connection to the desktop was lost" {
		t.Fatalf("message %q", msg)
	}
}

// Killed mid-connection, the program just dies: it starts nothing that
// could outlive it, and the desktop takes the next connection.
func TestDesktopKilled(t *testing.T) {
	d := desktoptest.Start(t, desktoptest.Options{})
	v := startEngine(t, config(d.Addr, d.User, d.Password, "nla"))
	v.connected()
	v.waitScreen(d)
	pid := v.cmd.Process.Pid
	children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if len(bytes.TrimSpace(children)) != 0 {
		t.Fatalf("postern-desktop has child processes: %s", children)
	}
	v.cmd.Process.Kill()
	if got := v.exit(); got != -1 {
		t.Fatalf("exit status %d, want death by signal", got)
	}
	v2 := startEngine(t, config(d.Addr, d.User, d.Password, "nla"))
	v2.connected()
	v2.waitScreen(d)
}

// The viewer asks for a security the desktop does not offer: 515, saying
// the negotiation failed.
func TestDesktopSecurityMismatch(t *testing.T) {
	nla := desktoptest.Start(t, desktoptest.Options{})
	v := startEngine(t, config(nla.Addr, "", "", "tls"))
	if msg := v.expectError(guac.StatusUpstreamError, 1); !strings.Contains(msg, "security negotiation") {
		t.Fatalf("TLS asked of an NLA desktop: %q", msg)
	}
	tls := desktoptest.Start(t, desktoptest.Options{Security: desktoptest.TLS})
	v = startEngine(t, config(tls.Addr, "u", "p", "nla"))
	if msg := v.expectError(guac.StatusUpstreamError, 1); !strings.Contains(msg, "security negotiation") {
		t.Fatalf("NLA asked of a TLS desktop: %q", msg)
	}
}

// The desktop's screen changes size: a size instruction and a frame of the
// new size follow.
func TestDesktopResizedByServer(t *testing.T) {
	d := desktoptest.Start(t, desktoptest.Options{})
	v := startEngine(t, config(d.Addr, d.User, d.Password, "nla"))
	v.connected()
	v.waitScreen(d)
	// xrandr complains that the output does not fit and resizes the
	// screen all the same (Xvfb has one fixed mode).
	d.Command("xrandr", "--fb", "800x600").Run()
	for {
		f := v.frame()
		v.send("sync", f[len(f)-1].Args[0])
		if v.screen.Rect.Size() == image.Pt(800, 600) {
			break
		}
	}
	if c := v.screen.RGBAAt(790, 590); c != desktoptest.Background {
		t.Fatalf("pixel at 790,590 of the resized screen: %v", c)
	}
}
