//go:build windows

package shell

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// These run on Windows, and under Wine where Windows is not at hand
// (scripts/test runs them with GOOS=windows -exec wine64): cmd.exe is the
// shell there (Wine has no PowerShell).

func TestMain(m *testing.M) {
	ServeConsoleChild() // Start's go-between is this test binary
	if os.Getenv("POSTERN_TEST_SLEEPER") != "" {
		// A process a session leaves behind: it says its pid and sleeps.
		os.WriteFile(os.Getenv("POSTERN_TEST_SLEEPER"), []byte(strconv.Itoa(os.Getpid())), 0o644)
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func comspec(t *testing.T) string {
	t.Helper()
	cs := os.Getenv("ComSpec")
	if cs == "" {
		t.Fatal("no ComSpec")
	}
	return cs
}

// readUntil reads r until want appears, or fails after a while.
func readUntil(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	var buf bytes.Buffer
	got := make(chan struct{})
	go func() {
		defer close(got)
		b := make([]byte, 4096)
		for !strings.Contains(buf.String(), want) {
			n, err := r.Read(b)
			buf.Write(b[:n])
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		t.Fatalf("never saw %q; got %q", want, buf.String())
	}
	if !strings.Contains(buf.String(), want) {
		t.Fatalf("output ended without %q: %q", want, buf.String())
	}
	return buf.String()
}

// TestConsoleSession: a shell in a pseudo console takes typed lines, shows
// their output and exits with the code it was given.
func TestConsoleSession(t *testing.T) {
	p, err := Start(t.Context(), Spec{Command: []string{comspec(t)}, Env: []string{"POSTERN_TEST_VAR=zq9"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Write([]byte("echo typed-%POSTERN_TEST_VAR%-%OS%\r")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, p, "typed-zq9-Windows_NT")
	p.Write([]byte("exit 3\r"))
	if code, err := p.Wait(); code != 3 || err != nil {
		t.Errorf("Wait = %d, %v; want 3", code, err)
	}
	// The output ends once the console closed.
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, p); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("reading to the end: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the output never ended")
	}
}

// TestConsoleCommand: a command's output and exit code; the agent's own
// environment is not the session's.
func TestConsoleCommand(t *testing.T) {
	os.Setenv("POSTERN_AGENT_SECRET", "hunter2")
	defer os.Unsetenv("POSTERN_AGENT_SECRET")
	p, err := Start(t.Context(), Spec{Command: []string{comspec(t), "/c", "echo [%POSTERN_AGENT_SECRET%] & exit 5"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	out := readUntil(t, p, "[")
	if strings.Contains(out, "hunter2") {
		t.Errorf("the session saw the agent's environment: %q", out)
	}
	if code, err := p.Wait(); code != 5 || err != nil {
		t.Errorf("Wait = %d, %v; want 5", code, err)
	}
}

// TestConsoleClose ends what the session runs, the processes it started
// among them, and ends the output.
func TestConsoleClose(t *testing.T) {
	self, _ := os.Executable()
	// Not in t.TempDir: Wine refuses the way Go's RemoveAll deletes
	// files (ERROR_INVALID_FUNCTION), and the test would fail on that.
	pidFile := filepath.Join(os.TempDir(), "postern-shell-test-"+strconv.Itoa(os.Getpid()))
	defer os.Remove(pidFile)
	p, err := Start(t.Context(), Spec{Command: []string{self}, Env: []string{"POSTERN_TEST_SLEEPER=" + pidFile}})
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	for deadline := time.Now().Add(30 * time.Second); pid == 0; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(string(b))
		if time.Now().After(deadline) {
			t.Fatal("the sleeper never started")
		}
	}
	h, err := windows.OpenProcess(windows.SYNCHRONIZE, false, uint32(pid))
	if err != nil {
		t.Fatal(err)
	}
	defer windows.CloseHandle(h)
	p.Close()
	if ev, _ := windows.WaitForSingleObject(h, 10000); ev != windows.WAIT_OBJECT_0 {
		t.Error("the session's process outlived Close")
	}
	if _, err := p.Wait(); err != nil {
		t.Errorf("Wait after Close: %v", err)
	}
}

// TestContextEnds: the end of Start's context ends the session.
func TestContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	p, err := Start(ctx, Spec{Command: []string{comspec(t)}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cancel()
	done := make(chan struct{})
	go func() { p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the session outlived its context")
	}
}

// TestPipes: a command without a terminal, its output and error apart,
// its input, its exit code.
func TestPipes(t *testing.T) {
	p, err := StartPipes(t.Context(), Spec{Command: []string{comspec(t), "/v:on", "/c", "set /p line= & echo got-!line! & echo oops 1>&2 & exit 4"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	io.WriteString(p.Stdin, "zq9 line\r\n")
	p.Stdin.Close()
	var stdout, stderr []byte
	done := make(chan struct{})
	go func() { stderr, _ = io.ReadAll(p.Stderr); close(done) }()
	stdout, err = io.ReadAll(p.Stdout)
	<-done
	if err != nil || !strings.Contains(string(stdout), "got-zq9 line") || strings.Contains(string(stdout), "oops") {
		t.Errorf("stdout %q, %v", stdout, err)
	}
	if !strings.Contains(string(stderr), "oops") {
		t.Errorf("stderr %q", stderr)
	}
	if code, err := p.Wait(); code != 4 || err != nil {
		t.Errorf("Wait = %d, %v; want 4", code, err)
	}
}

// TestRefusals: a user that is not there, a program that is not there.
func TestRefusals(t *testing.T) {
	if _, err := Start(t.Context(), Spec{User: "somebody-else", Command: []string{comspec(t)}}); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("a user that is not there: %v", err)
	}
	if _, err := StartPipes(t.Context(), Spec{Command: []string{"no-such-program-zq9"}}); err == nil || !strings.Contains(err.Error(), "not found in the session's PATH") {
		t.Errorf("a missing program: %v", err)
	}
	if _, err := Start(t.Context(), Spec{Command: []string{comspec(t)}, Env: []string{"NOEQUALS"}}); err == nil {
		t.Error("a bad environment entry was taken")
	}
}

// TestRunAsAccounts: a session runs as the agent's own account by either
// of its names without a logon; run-as names that are not user accounts
// are refused before any logon, with why. (A logon of another account is
// not exercised here: Wine has no MSV1_0 package, and its NetUserAdd keeps
// no account; see the README's Windows nodes.)
func TestRunAsAccounts(t *testing.T) {
	me, _, err := agentAccount()
	if err != nil {
		t.Fatal(err)
	}
	_, short, _ := strings.Cut(me, `\`)
	for _, name := range []string{me, short} {
		p, err := StartPipes(t.Context(), Spec{User: name, Command: []string{comspec(t), "/c", "echo", "as-me-zq9"}})
		if err != nil {
			t.Errorf("run as %q (the agent's own account): %v", name, err)
			continue
		}
		out, _ := io.ReadAll(p.Stdout)
		if code, err := p.Wait(); code != 0 || err != nil || !strings.Contains(string(out), "as-me-zq9") {
			t.Errorf("run as %q: exit %d, %v, output %q", name, code, err, out)
		}
		p.Close()
	}
	for _, name := range []string{"Administrators", "SYSTEM"} {
		if _, err := Start(t.Context(), Spec{User: name, Command: []string{comspec(t)}}); err == nil || !strings.Contains(err.Error(), "it is not a user account") {
			t.Errorf("run as %q: %v", name, err)
		}
	}
}

// TestWindowsRoot: Windows' counterparts of root, by SID.
func TestWindowsRoot(t *testing.T) {
	for sid, want := range map[string]bool{
		"S-1-5-18": true, "S-1-5-19": true, "S-1-5-20": true,
		"S-1-5-21-1-2-3-500": true, "S-1-5-21-1-2-3-1001": false, "S-1-5-21-1-2-3-5000": false, "S-1-5-32-544": false,
	} {
		if got := IsRoot(&user.User{Uid: sid}); got != want {
			t.Errorf("IsRoot(%s) = %v", sid, got)
		}
	}
	if Privileged() {
		me, sid, _ := agentAccount()
		if !sid.IsWellKnown(windows.WinLocalSystemSid) {
			t.Errorf("Privileged() as %s", me)
		}
	}
}

// TestWindowsStructs: the structures handed to LSA, userenv and netapi32
// have the sizes Windows' headers give them on amd64, and the S4U logon
// buffer's strings are where its header says.
func TestWindowsStructs(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("sizes are amd64's")
	}
	for name, got := range map[string]uintptr{
		"MSV1_0_S4U_LOGON": unsafe.Sizeof(s4uLogon{}), "PROFILEINFOW": unsafe.Sizeof(profileInfo{}),
		"USER_INFO_1": unsafe.Sizeof(userInfo1{}), "TOKEN_SOURCE": unsafe.Sizeof(tokenSource{}), "LSA_STRING": unsafe.Sizeof(lsaString{}),
	} {
		want := map[string]uintptr{"MSV1_0_S4U_LOGON": 40, "PROFILEINFOW": 56, "USER_INFO_1": 56, "TOKEN_SOURCE": 16, "LSA_STRING": 16}[name]
		if got != want {
			t.Errorf("sizeof(%s) = %d, want %d", name, got, want)
		}
	}
	buf := s4uLogonBuffer("ssm-user", ".")
	h := (*s4uLogon)(unsafe.Pointer(&buf[0]))
	str := func(u unicodeString) string {
		if u.Buffer < uintptr(unsafe.Pointer(&buf[0])) || u.Buffer+uintptr(u.Length) > uintptr(unsafe.Pointer(&buf[0]))+uintptr(len(buf)) {
			t.Fatalf("a string outside the buffer: %+v", u)
		}
		at := unsafe.Add(unsafe.Pointer(&buf[0]), u.Buffer-uintptr(unsafe.Pointer(&buf[0])))
		return windows.UTF16ToString(unsafe.Slice((*uint16)(at), u.Length/2))
	}
	if h.MessageType != 12 || str(h.UserPrincipalName) != "ssm-user" || str(h.DomainName) != "." {
		t.Errorf("S4U logon: type %d, user %q, domain %q", h.MessageType, str(h.UserPrincipalName), str(h.DomainName))
	}
	runtime.KeepAlive(buf)
	a, err := randomPassword()
	b, _ := randomPassword()
	if err != nil || len(a) != 32 || a == b || !strings.ContainsAny(a[4:], "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%+-.:=?@_~") {
		t.Errorf("randomPassword = %q, %q, %v", a, b, err)
	}
}
