//go:build linux

package desktoptest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"

	"golang.org/x/crypto/md4" //nolint:staticcheck // NTLM's NT hash is MD4 by definition.
)

// Background is the desktop's background colour (the X root window's).
var Background = color.RGBA{R: 0x33, G: 0x66, B: 0xCC, A: 0xFF}

// Marker is the text the xterm shows.
const Marker = "POSTERN-DESKTOP-MARKER"

// Security says how the RDP server lets clients in.
type Security string

const (
	// NLA requires Network Level Authentication (CredSSP) with the
	// Desktop's user name and password.
	NLA Security = "nla"
	// TLS offers TLS without NLA: no credentials needed.
	TLS Security = "tls"
)

// Options configure a desktop; the zero value is a 1024x768 desktop with NLA.
type Options struct {
	Width, Height int      // the screen's size; 1024x768 when zero
	Security      Security // NLA when empty
}

// Desktop is a running test desktop.
type Desktop struct {
	Addr     string // the RDP server's host:port on 127.0.0.1
	Display  string // the X display, e.g. ":3"
	User     string // the user name NLA accepts
	Password string // its password
	Width    int
	Height   int
	// Xterm is the xterm window's rectangle on the screen; the pixels
	// there are not Background.
	Xterm image.Rectangle

	dir          string
	typed        string // the file the xterm's shell writes what is typed
	env          []string
	shadow       *exec.Cmd
	shadowExited <-chan struct{}
}

// StopRDP kills the RDP server (SIGKILL), as a desktop that goes away
// mid-connection; the display stays.
func (d *Desktop) StopRDP() {
	d.shadow.Process.Kill()
	<-d.shadowExited
}

// Pointer is where the X pointer is on the screen.
func (d *Desktop) Pointer() (image.Point, error) {
	out, err := d.Command("xdotool", "getmouselocation", "--shell").Output()
	if err != nil {
		return image.Point{}, fmt.Errorf("xdotool getmouselocation: %w", err)
	}
	v := map[string]int{}
	for _, line := range strings.Split(string(out), "\n") {
		k, val, ok := strings.Cut(line, "=")
		if n, err := strconv.Atoi(val); ok && err == nil {
			v[k] = n
		}
	}
	return image.Pt(v["X"], v["Y"]), nil
}

// requirePrograms are the programs Start runs.
var requirePrograms = []string{"Xvfb", "freerdp-shadow-cli", "xterm", "xsetroot", "xdotool"}

// Start starts a desktop that lives until the test ends.
func Start(t testing.TB, opts Options) *Desktop {
	t.Helper()
	for _, p := range requirePrograms {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("POSTERN_REQUIRE_DESKTOP") == "1" {
				t.Fatalf("desktoptest: %s not installed (POSTERN_REQUIRE_DESKTOP=1): %v", p, err)
			}
			t.Skipf("desktoptest: %s not installed (apt-get install xvfb freerdp2-shadow-x11 xterm x11-xserver-utils xdotool)", p)
		}
	}
	if opts.Width == 0 {
		opts.Width = 1024
	}
	if opts.Height == 0 {
		opts.Height = 768
	}
	if opts.Security == "" {
		opts.Security = NLA
	}
	dir := t.TempDir()
	d := &Desktop{
		User:     "postern",
		Password: "pw-" + randomHex(8),
		Width:    opts.Width,
		Height:   opts.Height,
		dir:      dir,
		typed:    filepath.Join(dir, "typed"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	display := d.startXvfb(ctx, t)
	d.Display = display
	// HOME and XDG_CONFIG_HOME in the test's directory: the shadow server
	// writes its certificate and key under them, and nothing may be left
	// in the real home directory.
	d.env = append(os.Environ(), "DISPLAY="+display, "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))

	if out, err := d.Command("xsetroot", "-solid", fmt.Sprintf("#%02x%02x%02x", Background.R, Background.G, Background.B)).CombinedOutput(); err != nil {
		t.Fatalf("desktoptest: xsetroot: %v: %s", err, out)
	}
	d.startXterm(ctx, t)
	d.startShadow(ctx, t, opts.Security)
	// A failing test shows what the RDP server said: a dropped connection
	// is otherwise only "transport failed" at the client.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("desktoptest: freerdp-shadow-cli log (end):\n%s", d.readLog("shadow.log"))
		}
	})
	return d
}

// Command is a command run against the desktop's display (xdotool, say).
func (d *Desktop) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = d.env
	return cmd
}

// Typed is what has been typed into the xterm and ended with Enter so far.
func (d *Desktop) Typed() string {
	b, err := os.ReadFile(d.typed)
	if err != nil {
		return ""
	}
	return string(b)
}

// WaitTyped waits until the xterm's file holds want (typing goes through
// the RDP server, X and a terminal: it takes a moment), and fails the test
// with what did arrive if the test's deadline comes first.
func (d *Desktop) WaitTyped(t testing.TB, want string) {
	t.Helper()
	ctx := context.Background()
	if dl, ok := deadline(t); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-5*time.Second))
		defer cancel()
	}
	for !strings.Contains(d.Typed(), want) {
		select {
		case <-ctx.Done():
			t.Fatalf("desktoptest: the xterm got %q, want %q", d.Typed(), want)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// deadline is the test's deadline (go test -timeout), if it has one.
func deadline(t testing.TB) (time.Time, bool) {
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		return dt.Deadline()
	}
	return time.Time{}, false
}

// startXvfb starts the X server on a display it picks itself (-displayfd),
// so parallel tests and other X servers on the machine never collide.
func (d *Desktop) startXvfb(ctx context.Context, t testing.TB) string {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0",
		fmt.Sprintf("%dx%dx24", d.Width, d.Height), "-nolisten", "tcp", "-noreset")
	cmd.ExtraFiles = []*os.File{w}
	log := d.logFile(t, "xvfb.log")
	cmd.Stdout, cmd.Stderr = log, log
	start(t, cmd, "Xvfb")
	w.Close()
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		ch <- result{line, err}
	}()
	select {
	case res := <-ch:
		n, err := strconv.Atoi(strings.TrimSpace(res.line))
		if err != nil {
			t.Fatalf("desktoptest: Xvfb did not say its display (%q, %v); its log: %s", res.line, res.err, d.readLog("xvfb.log"))
		}
		return ":" + strconv.Itoa(n)
	case <-ctx.Done():
		t.Fatalf("desktoptest: Xvfb did not start; its log: %s", d.readLog("xvfb.log"))
	}
	return ""
}

// startXterm opens the xterm with the marker whose shell copies what is
// typed to d.typed, waits until it is on screen and gives it the keyboard
// focus (there is no window manager to do so).
func (d *Desktop) startXterm(ctx context.Context, t testing.TB) {
	// The file appears when the shell gets to cat: then typing lands.
	script := fmt.Sprintf(`printf '%%s\n' %s; exec cat > %s`, Marker, shellQuote(d.typed))
	cmd := d.Command("xterm", "-geometry", "60x10+100+100", "-bg", "white", "-fg", "black",
		"-title", "postern-desktoptest", "-e", "sh", "-c", script)
	log := d.logFile(t, "xterm.log")
	cmd.Stdout, cmd.Stderr = log, log
	start(t, cmd, "xterm")

	out, err := d.command(ctx, "xdotool", "search", "--sync", "--onlyvisible", "--name", "postern-desktoptest").Output()
	if err != nil {
		t.Fatalf("desktoptest: the xterm did not appear: %v; its log: %s", err, d.readLog("xterm.log"))
	}
	wid := strings.Fields(string(out))
	if len(wid) == 0 {
		t.Fatalf("desktoptest: no xterm window found")
	}
	geo, err := d.command(ctx, "xdotool", "getwindowgeometry", "--shell", wid[0]).Output()
	if err != nil {
		t.Fatalf("desktoptest: xdotool getwindowgeometry: %v", err)
	}
	v := map[string]int{}
	for _, line := range strings.Split(string(geo), "\n") {
		k, val, ok := strings.Cut(line, "=")
		if n, err := strconv.Atoi(val); ok && err == nil {
			v[k] = n
		}
	}
	d.Xterm = image.Rect(v["X"], v["Y"], v["X"]+v["WIDTH"], v["Y"]+v["HEIGHT"])
	if d.Xterm.Empty() {
		t.Fatalf("desktoptest: xterm geometry %q", geo)
	}
	if out, err := d.command(ctx, "xdotool", "windowfocus", "--sync", wid[0]).CombinedOutput(); err != nil {
		t.Fatalf("desktoptest: xdotool windowfocus: %v: %s", err, out)
	}
	waitFor(ctx, t, "the xterm's shell", func() bool {
		_, err := os.Stat(d.typed)
		return err == nil
	})
}

// command is Command bounded by ctx.
func (d *Desktop) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = d.env
	return cmd
}

// startShadow shares the display over RDP on a free loopback port.
func (d *Desktop) startShadow(ctx context.Context, t testing.TB, sec Security) {
	port := freePort(t)
	d.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"/bind-address:127.0.0.1", "/port:" + strconv.Itoa(port), "-auth"}
	switch sec {
	case NLA:
		sam := filepath.Join(d.dir, "sam")
		if err := os.WriteFile(sam, []byte(SAMLine(d.User, "", d.Password)), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "/sec:nla", "/sam-file:"+sam)
	case TLS:
		args = append(args, "/sec:tls")
	default:
		t.Fatalf("desktoptest: unknown security %q", sec)
	}
	cmd := d.Command("freerdp-shadow-cli", args...)
	log := d.logFile(t, "shadow.log")
	cmd.Stdout, cmd.Stderr = log, log
	exited := start(t, cmd, "freerdp-shadow-cli")
	d.shadow = cmd
	d.shadowExited = exited
	waitFor(ctx, t, "freerdp-shadow-cli listening on "+d.Addr, func() bool {
		select {
		case <-exited:
			t.Fatalf("desktoptest: freerdp-shadow-cli exited; its log: %s", d.readLog("shadow.log"))
		default:
		}
		c, err := net.DialTimeout("tcp", d.Addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// SAMLine is winpr's SAM file entry for a user (what `winpr-hash -f sam`
// prints): USER:DOMAIN::NTHASH::: where NTHASH is the hex MD4 of the
// password in UTF-16LE.
func SAMLine(user, domain, password string) string {
	h := md4.New()
	for _, u := range utf16.Encode([]rune(password)) {
		h.Write([]byte{byte(u), byte(u >> 8)})
	}
	return fmt.Sprintf("%s:%s::%s:::\n", user, domain, hex.EncodeToString(h.Sum(nil)))
}

// start starts cmd in a process group of its own and stops the group when
// the test ends: SIGTERM first so Xvfb removes its socket and lock file,
// SIGKILL if it does not go. The returned channel closes when it exits.
func start(t testing.TB, cmd *exec.Cmd, name string) <-chan struct{} {
	t.Helper()
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		t.Fatalf("desktoptest: start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		pgid := cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-exited
		}
		// What the group started and left behind (xterm's shell).
		syscall.Kill(-pgid, syscall.SIGKILL)
	})
	return exited
}

func (d *Desktop) logFile(t testing.TB, name string) *os.File {
	f, err := os.Create(filepath.Join(d.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func (d *Desktop) readLog(name string) string {
	b, _ := os.ReadFile(filepath.Join(d.dir, name))
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// Log is the end of a program's log (xvfb, xterm, shadow), for a failing
// test's message.
func (d *Desktop) Log(name string) string { return d.readLog(name + ".log") }

// waitFor polls cond until it holds or ctx ends (readiness of a program
// that has no other way to say it is ready).
func waitFor(ctx context.Context, t testing.TB, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("desktoptest: waiting for %s: %v", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
