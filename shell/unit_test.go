//go:build linux || darwin

package shell

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strings"
	"testing"
	"time"
)

// testContext bounds a test's waits. Tests wait for conditions, never for
// durations; this is only the point at which they give up.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCredential(t *testing.T) {
	t.Parallel()
	root := &user.User{Uid: "0", Gid: "0", Username: "root"}
	if _, err := credential(root, 1000); err == nil || !strings.Contains(err.Error(), "only root") {
		t.Errorf("credential(root) as uid 1000 = %v, want refusal", err)
	}
	self := &user.User{Uid: "1000", Gid: "1000", Username: "me"}
	if c, err := credential(self, 1000); c != nil || err != nil {
		t.Errorf("credential(self) = %v, %v; want nil, nil", c, err)
	}
}

func TestEnsureUserRejectsBadNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"", "Bob", "1abc", "-rf", "a b", "a/b", "a;b", "a.b", "a$", "ab\n",
		"a" + strings.Repeat("b", 32), // 33 characters
	} {
		_, err := EnsureUser(testContext(t), name)
		if !errors.Is(err, ErrInvalidUserName) {
			t.Errorf("EnsureUser(%q) = %v, want ErrInvalidUserName", name, err)
		}
	}
	for _, name := range []string{"ssm-user", "_svc", "a", "postern", "a" + strings.Repeat("b", 31)} {
		if !validUserName(name) {
			t.Errorf("validUserName(%q) = false, want true", name)
		}
	}
}

func TestBaseEnv(t *testing.T) {
	t.Parallel()
	env, err := baseEnv("/home/u", "u", "/bin/zsh", "", "C.UTF-8", []string{"PATH=/opt/bin", "X=1", "X=2"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"HOME=/home/u", "USER=u", "LOGNAME=u", "SHELL=/bin/zsh", "PATH=/opt/bin",
		"TERM=xterm-256color", "LANG=C.UTF-8", "X=2",
	}
	if !slices.Equal(env, want) {
		t.Errorf("env = %q\nwant  %q", env, want)
	}
	for _, bad := range []string{"=x", "NOEQUALS", "A=b\x00c"} {
		if _, err := baseEnv("/", "u", "/bin/sh", "", "", []string{bad}); err == nil {
			t.Errorf("baseEnv accepted %q", bad)
		}
	}
}

func TestWorkDir(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	for _, tt := range []struct{ dir, home, want string }{
		{"/srv", tmp, "/srv"},
		{"", tmp, tmp},
		{"", "/nonexistent/home", "/"},
		{"", "", "/"},
	} {
		if got := workDir(tt.dir, tt.home); got != tt.want {
			t.Errorf("workDir(%q, %q) = %q, want %q", tt.dir, tt.home, got, tt.want)
		}
	}
}

func TestParsePasswdShell(t *testing.T) {
	t.Parallel()
	data := "root:x:0:0:root:/root:/bin/bash\nbob:x:1000:1000:Bob,,,:/home/bob:/usr/bin/zsh\nnosh:x:1001:1001::/home/nosh:\n"
	for _, tt := range []struct {
		name, want string
		ok         bool
	}{
		{"bob", "/usr/bin/zsh", true},
		{"root", "/bin/bash", true},
		{"nosh", "", false},
		{"bo", "", false},
	} {
		if got, ok := parsePasswdShell(data, tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("parsePasswdShell(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLookPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	exe := dir + "/tool"
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/data", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := lookPath("tool", "/nonexistent:"+dir); got != exe || err != nil {
		t.Errorf("lookPath(tool) = %q, %v; want %q", got, err, exe)
	}
	if _, err := lookPath("data", dir); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("lookPath found a non-executable file: %v", err)
	}
	if got, _ := lookPath("./x", ""); got != "./x" {
		t.Errorf("lookPath(./x) = %q, want it unchanged", got)
	}
}
