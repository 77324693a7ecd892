//go:build linux

package desktoptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Xrdp is a running xrdp server (with xrdp-sesman and xorgxrdp): unlike
// the shadow server it has the clipboard (cliprdr) and Display Control
// channels. Its login starts an Xorg session of its own for User, whose
// only program is an xterm showing Marker.
type Xrdp struct {
	Addr     string // xrdp's host:port on 127.0.0.1; TLS security, no NLA
	User     string // a Unix user made for the test
	Password string

	dir   string // logs, configs
	home  string // the user's home
	uid   int
	env   []string // with the session's DISPLAY, once known
	ready bool     // env has the session's DISPLAY
}

// xrdpPrograms are what StartXrdp runs.
var xrdpPrograms = []string{"xrdp", "xrdp-sesman", "/usr/lib/xorg/Xorg", "xterm", "xclip", "xdotool", "unshare", "mount", "useradd", "userdel", "chpasswd"}

// xorgxrdpDriver is xorgxrdp's X driver: Xorg starts without it, but
// nothing shows.
const xorgxrdpDriver = "/usr/lib/xorg/modules/drivers/xrdpdev_drv.so"

// StartXrdp starts xrdp and xrdp-sesman in the foreground for the test,
// on free loopback ports, with configs, logs and pid files of their own
// under t.TempDir(): both run in a mount namespace of their own where
// those directories are mounted over /etc/xrdp and /run/xrdp (xrdp
// 0.9 reads its pid file's path and sesman's port from there, fixed at
// build time). It makes a Unix user with a random password for the
// session (useradd, chpasswd) and removes it, and every process it ran,
// at the end. It needs root and Debian's xrdp, xorgxrdp, xterm and xclip;
// without them the test is skipped, unless POSTERN_REQUIRE_DESKTOP=1.
func StartXrdp(t testing.TB) *Xrdp {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("POSTERN_REQUIRE_DESKTOP") == "1" {
			t.Fatalf("desktoptest: "+format+" (POSTERN_REQUIRE_DESKTOP=1)", args...)
		}
		t.Skipf("desktoptest: "+format, args...)
	}
	if os.Geteuid() != 0 {
		skip("xrdp needs root (a Unix user, a mount namespace)")
	}
	for _, p := range xrdpPrograms {
		if _, err := exec.LookPath(p); err != nil {
			skip("%s not installed (apt-get install xrdp xorgxrdp xterm xclip xdotool): %v", p, err)
		}
	}
	if _, err := os.Stat(xorgxrdpDriver); err != nil {
		skip("xorgxrdp not installed (apt-get install xorgxrdp): %v", err)
	}

	dir := t.TempDir()
	// The session runs as the user: it must reach its home and script
	// under dir (t.TempDir's directories are 0700).
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	x := &Xrdp{
		User:     "pxt" + randomHex(6),
		Password: "pw-" + randomHex(8),
		dir:      dir,
		home:     filepath.Join(dir, "home"),
	}
	x.addUser(t)

	etc := filepath.Join(dir, "etc")
	run := filepath.Join(dir, "run")
	for _, d := range []string{etc, filepath.Join(run, "sockdir")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// sesman's and chansrv's sockets for the user's session.
	if err := os.Chmod(filepath.Join(run, "sockdir"), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	port, sesmanPort := freePort(t), freePort(t)
	x.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	x.writeConfig(t, etc, port, sesmanPort)

	// The mount points must exist (Debian makes /run/xrdp when xrdp's
	// service starts, and /run may be fresh).
	for _, d := range []string{"/etc/xrdp", "/run/xrdp"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := `mount --bind "$1" /etc/xrdp && mount --bind "$2" /run/xrdp || exit 1
xrdp-sesman --nodaemon &
exec xrdp --nodaemon`
	// util-linux's unshare, not SysProcAttr.Unshareflags: with Go's, the
	// bind mounts leaked into the test's own namespace on this machine's
	// kernel. A PID namespace too: when xrdp (its init) or unshare dies
	// (killed with the test process, Pdeathsig), the kernel ends every
	// process in it, the session's included.
	cmd := exec.Command("unshare", "--fork", "--pid", "--mount-proc", "--kill-child",
		"--mount", "--propagation", "private", "sh", "-c", script, "sh", etc, run)
	log := x.logFile(t, "xrdp.out")
	cmd.Stdout, cmd.Stderr = log, log
	exited := start(t, cmd, "xrdp")
	// Runs first: the session's programs (Xorg, chansrv, the xterm)
	// are the user's, in sessions of their own.
	t.Cleanup(func() { killUser(x.uid) })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, addr := range []string{x.Addr, net.JoinHostPort("127.0.0.1", strconv.Itoa(sesmanPort))} {
		waitFor(ctx, t, "xrdp listening on "+addr, func() bool {
			select {
			case <-exited:
				t.Fatalf("desktoptest: xrdp exited; its output: %s\nxrdp.log: %s\nsesman.log: %s", x.Log("xrdp.out"), x.Log("xrdp"), x.Log("sesman"))
			default:
			}
			for _, network := range []string{"tcp4", "tcp6"} {
				// sesman may take ::1 for 127.0.0.1's name.
				a := addr
				if network == "tcp6" {
					_, p, _ := net.SplitHostPort(addr)
					a = net.JoinHostPort("::1", p)
				}
				if c, err := net.DialTimeout(network, a, time.Second); err == nil {
					c.Close()
					return true
				}
			}
			return false
		})
	}
	return x
}

func (x *Xrdp) addUser(t testing.TB) {
	if err := os.MkdirAll(x.home, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("useradd", "-M", "-d", x.home, "-s", "/bin/sh", x.User).CombinedOutput(); err != nil {
		t.Fatalf("desktoptest: useradd: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", x.User).CombinedOutput(); err != nil {
			t.Logf("desktoptest: userdel %s: %v: %s", x.User, err, out)
		}
	})
	chpasswd := exec.Command("chpasswd")
	chpasswd.Stdin = strings.NewReader(x.User + ":" + x.Password + "\n")
	if out, err := chpasswd.CombinedOutput(); err != nil {
		t.Fatalf("desktoptest: chpasswd: %v: %s", err, out)
	}
	u, err := user.Lookup(x.User)
	if err != nil {
		t.Fatal(err)
	}
	x.uid, _ = strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(x.home, x.uid, gid); err != nil {
		t.Fatal(err)
	}
}

// killUser ends every process of uid: SIGTERM (Xorg removes its socket
// and lock file), then SIGKILL for what is left after a few seconds.
func killUser(uid int) {
	if uid <= 0 {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for sig := syscall.SIGTERM; ; {
		pids := userProcesses(uid)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			sig = syscall.SIGKILL
		}
		for _, pid := range pids {
			syscall.Kill(pid, sig)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// userProcesses are the pids whose real uid is uid.
func userProcesses(uid int) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Uid:" {
				if f[1] == strconv.Itoa(uid) && !bytes.Contains(status, []byte("State:\tZ")) {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

// writeConfig writes xrdp.ini, sesman.ini, the keymaps xrdp needs, a TLS
// certificate and the session's startup script into etc.
func (x *Xrdp) writeConfig(t testing.TB, etc string, port, sesmanPort int) {
	// Keymaps and the RSA keys of RDP's own security, as installed.
	matches, _ := filepath.Glob("/etc/xrdp/*.ini")
	for _, m := range matches {
		base := filepath.Base(m)
		if base == "xrdp.ini" || base == "sesman.ini" {
			continue
		}
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(etc, base), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	certPEM, keyPEM := selfSigned(t)
	files := map[string]string{
		"cert.pem": certPEM,
		"key.pem":  keyPEM,
		"xrdp.ini": fmt.Sprintf(`[Globals]
ini_version=1
fork=false
port=tcp://127.0.0.1:%d
tcp_nodelay=true
security_layer=tls
crypt_level=high
certificate=%s
key_file=%s
ssl_protocols=TLSv1.2, TLSv1.3
autorun=Xorg
allow_channels=true
allow_multimon=true
max_bpp=32
new_cursors=true
use_fastpath=both

[Logging]
LogFile=%s
LogLevel=INFO
EnableSyslog=false

[Channels]
rdpdr=false
rdpsnd=false
drdynvc=true
cliprdr=true
rail=false
xrdpvr=false
tcutils=false

[Xorg]
name=Xorg
lib=libxup.so
username=ask
password=ask
ip=127.0.0.1
port=-1
code=20
`, port, filepath.Join(etc, "cert.pem"), filepath.Join(etc, "key.pem"), filepath.Join(x.dir, "xrdp.log")),
		"sesman.ini": fmt.Sprintf(`[Globals]
ListenAddress=127.0.0.1
ListenPort=%d
EnableUserWindowManager=false
UserWindowManager=startwm.sh
DefaultWindowManager=%s

[Security]
AllowRootLogin=false
MaxLoginRetry=4
AlwaysGroupCheck=false

[Sessions]
X11DisplayOffset=10
MaxSessions=4
KillDisconnected=false
DisconnectedTimeLimit=0
IdleTimeLimit=0
Policy=Default

[Logging]
LogFile=%s
LogLevel=INFO
EnableSyslog=false

[Xorg]
param=/usr/lib/xorg/Xorg
param=-config
param=xrdp/xorg.conf
param=-noreset
param=-nolisten
param=tcp
param=-logfile
param=.xorgxrdp.%%s.log

[Chansrv]
FuseMountName=thinclient_drives
FileUmask=077
EnableFuseMount=false

[ChansrvLogging]
LogLevel=INFO
EnableSyslog=false
`, sesmanPort, filepath.Join(etc, "startwm.sh"), filepath.Join(x.dir, "sesman.log")),
		// The session says its display (for the test's X clients)
		// and shows the xterm; it lasts as long as the xterm.
		"startwm.sh": fmt.Sprintf(`#!/bin/sh
printf '%%s\n' "$DISPLAY" > %[1]s.tmp && mv %[1]s.tmp %[1]s
exec xterm -geometry 60x10+100+100 -bg white -fg black -title postern-desktoptest -e sh -c 'printf "%%s\n" %[2]s; exec cat >/dev/null'
`, shellQuote(filepath.Join(x.home, "display")), Marker),
	}
	for name, content := range files {
		mode := os.FileMode(0o644)
		if name == "startwm.sh" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(etc, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// selfSigned is a throwaway certificate and key for xrdp's TLS, in PEM.
func selfSigned(t testing.TB) (string, string) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	k := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return string(cert), string(k)
}

// WaitSession waits until a login has started the user's session (the
// engine logs in) and returns its X display. xrdp's channel server
// (chansrv, the clipboard's end in the session) may start a moment later.
func (x *Xrdp) WaitSession(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	if dl, ok := deadline(t); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-5*time.Second))
		defer cancel()
	}
	var display string
	waitFor(ctx, t, "the xrdp session", func() bool {
		b, err := os.ReadFile(filepath.Join(x.home, "display"))
		display = strings.TrimSpace(string(b))
		return err == nil && display != ""
	})
	x.env = append(os.Environ(), "DISPLAY="+display, "XAUTHORITY="+filepath.Join(x.home, ".Xauthority"), "HOME="+x.home)
	x.ready = true
	return display
}

// Command is a command run against the session's display (after
// WaitSession), as root with the user's X authority.
func (x *Xrdp) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = x.env
	return cmd
}

// Clipboard is the text of the session's X clipboard (the CLIPBOARD
// selection), as a program there would paste it.
func (x *Xrdp) Clipboard() (string, error) {
	if !x.ready {
		return "", fmt.Errorf("desktoptest: Clipboard before WaitSession")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "xclip", "-o", "-selection", "clipboard")
	cmd.Env = x.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("xclip -o: %w: %s", err, stderr.Bytes())
	}
	return string(out), nil
}

// SetClipboard makes text the session's X clipboard, as copying in a
// program there would: xclip owns the selection until the test ends or
// something else takes it. Right after the session starts, xrdp's channel
// server may not be watching the selection yet (nothing says when it
// is): a test sets it again if nothing arrives.
func (x *Xrdp) SetClipboard(t testing.TB, text string) {
	t.Helper()
	if !x.ready {
		t.Fatal("desktoptest: SetClipboard before WaitSession")
	}
	cmd := exec.Command("xclip", "-quiet", "-i", "-selection", "clipboard")
	cmd.Env = x.env
	cmd.Stdin = strings.NewReader(text)
	log := x.logFile(t, "xclip-"+randomHex(4)+".log")
	cmd.Stdout, cmd.Stderr = log, log
	start(t, cmd, "xclip")
}

func (x *Xrdp) logFile(t testing.TB, name string) *os.File {
	f, err := os.Create(filepath.Join(x.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// Log is the end of a log: "xrdp", "sesman" or "xrdp.out" (what xrdp and
// sesman print).
func (x *Xrdp) Log(name string) string {
	if name == "xrdp" || name == "sesman" {
		name += ".log"
	}
	b, _ := os.ReadFile(filepath.Join(x.dir, name))
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}
