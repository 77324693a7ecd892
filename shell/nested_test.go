//go:build linux

package shell

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// writeFiles writes startup files into dir, owned by u if it is not nil.
func writeFiles(t *testing.T, dir string, u *user.User, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if u != nil {
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// zshUser is a throwaway user whose login shell is zsh.
func zshUser(t *testing.T) *user.User {
	t.Helper()
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("zsh is not installed (scripts/install-test-deps installs it)")
	}
	u := throwawayUser(t)
	ensureMu.Lock()
	out, err := exec.Command("usermod", "--shell", zsh, u.Username).CombinedOutput()
	ensureMu.Unlock()
	if err != nil {
		t.Fatalf("usermod: %v: %s", err, out)
	}
	return u
}

// TestNestedBash starts bash inside a session's bash, plainly and by exec:
// the nested shell finds the prompt hook in its environment and marks its
// commands with their exit codes. The command that started it ends, without
// an exit code, at its first prompt; the exit of the last one is what the
// outer shell saw.
func TestNestedBash(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if sh := loginShellFor(ctx, u.Username); !strings.HasSuffix(sh, "bash") {
		t.Skipf("login shell of %s is %s, not bash", u.Username, sh)
	}
	home := t.TempDir()
	// The login shell reads .bash_profile, a nested one .bashrc.
	writeFiles(t, home, nil, map[string]string{
		".bash_profile": "PS1='outer$ '\n",
		// The user's own PROMPT_COMMAND, run after ours, sees the
		// command's status.
		".bashrc": "PS1='inner$ '\nPROMPT_COMMAND=\"$PROMPT_COMMAND${PROMPT_COMMAND:+;}echo -n rc-status=\\$?-\"\n",
	})
	tm := start(t, ctx, Spec{Integration: true, Env: []string{"HOME=" + home}})
	tm.expect(ctx, "outer$ ")
	tm.write("bash\r")
	tm.expect(ctx, "inner$ ")
	tm.write("false\r")
	tm.expect(ctx, "\x1b]133;D;1\x07")
	tm.expect(ctx, "rc-status=1-")
	tm.expect(ctx, "inner$ ") // this shell's; the exec'd one prints the next
	tm.write("exec bash -i\r")
	tm.expect(ctx, "inner$ ")
	tm.write("(exit 5)\r")
	tm.expect(ctx, "\x1b]133;D;5\x07")
	tm.write("exit 3\r")
	tm.expect(ctx, "outer$ ")
	tm.write("exit 0\r")
	if code := tm.wait(ctx); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	checkCommands(t, tm.output(ctx),
		"bash=0/false", "false=1/true",
		"exec bash -i=0/false", "(exit 5)=5/true", "exit 3=3/true", "exit 0=0/false")
}

// TestNestedZsh starts zsh from a session's bash, bash from that zsh and
// zsh from that bash: each marks its commands, and each zsh reads the
// user's startup files. At the prompt ZDOTDIR is the user's; while a
// command runs it is Postern's, so that a zsh the command starts finds it.
func TestNestedZsh(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	if _, err := exec.LookPath("zsh"); err != nil {
		t.Skip("zsh is not installed (scripts/install-test-deps installs it)")
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if sh := loginShellFor(ctx, u.Username); !strings.HasSuffix(sh, "bash") {
		t.Skipf("login shell of %s is %s, not bash", u.Username, sh)
	}
	home := t.TempDir()
	writeFiles(t, home, nil, map[string]string{
		".bash_profile": "PS1='bash-outer$ '\n",
		".bashrc":       "PS1='bash-inner$ '\n",
		".zshenv":       "export FROM_ZSHENV=yes\n",
		".zshrc":        "PS1='zsh> '\nshow() { print -r -- \"zd=${ZDOTDIR-unset}.\" }\nprecmd_functions+=(show)\n",
	})
	tm := start(t, ctx, Spec{Integration: true, Env: []string{"HOME=" + home}})
	tm.expect(ctx, "bash-outer$ ")
	tm.write("zsh\r")
	tm.expect(ctx, "zd=unset.")
	tm.expect(ctx, "zsh> ")
	tm.write("echo $FROM_ZSHENV-${ZDOTDIR:t}; false\r")
	tm.expect(ctx, "yes-zsh")
	tm.expect(ctx, "\x1b]133;D;1\x07")
	tm.expect(ctx, "zd=unset.")
	tm.write("bash\r")
	tm.expect(ctx, "bash-inner$ ")
	tm.write("(exit 4)\r")
	tm.expect(ctx, "\x1b]133;D;4\x07")
	tm.write("exec zsh\r")
	tm.expect(ctx, "zsh> ")
	tm.write("(exit 9)\r")
	tm.expect(ctx, "\x1b]133;D;9\x07")
	tm.expect(ctx, "zsh> ") // the exec'd zsh's; the first one's comes after exit
	tm.write("exit\r")      // the exec'd zsh, started by the first
	tm.expect(ctx, "zsh> ")
	tm.write("exit 2\r")
	tm.expect(ctx, "bash-outer$ ")
	tm.write("exit 0\r")
	if code := tm.wait(ctx); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	checkCommands(t, tm.output(ctx),
		"zsh=0/false", "echo $FROM_ZSHENV-${ZDOTDIR:t}; false=1/true",
		"bash=0/false", "(exit 4)=4/true", "exec zsh=0/false", "(exit 9)=9/true", "exit=9/true",
		"exit 2=2/true", "exit 0=0/false")
}

// TestNestedZshOwnZdotdir: a user who keeps their zsh files in a ZDOTDIR of
// their own gets them read by a nested zsh too, and finds ZDOTDIR theirs
// at its prompt.
func TestNestedZshOwnZdotdir(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	if _, err := exec.LookPath("zsh"); err != nil {
		t.Skip("zsh is not installed (scripts/install-test-deps installs it)")
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if sh := loginShellFor(ctx, u.Username); !strings.HasSuffix(sh, "bash") {
		t.Skipf("login shell of %s is %s, not bash", u.Username, sh)
	}
	home := t.TempDir()
	zd := filepath.Join(home, "zdot")
	if err := os.Mkdir(zd, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, home, nil, map[string]string{".bash_profile": "PS1='bash$ '\n", ".zshrc": "PS1='wrong-zshrc> '\n"})
	writeFiles(t, zd, nil, map[string]string{".zshrc": "PS1='own> '\nshow() { print -r -- \"zd=${ZDOTDIR:t}.\" }\nprecmd_functions+=(show)\n"})
	tm := start(t, ctx, Spec{Integration: true, Env: []string{"HOME=" + home, "ZDOTDIR=" + zd}})
	tm.expect(ctx, "bash$ ")
	tm.write("zsh\r")
	tm.expect(ctx, "zd=zdot.")
	tm.expect(ctx, "own> ")
	tm.write("false\r")
	tm.expect(ctx, "\x1b]133;D;1\x07")
	tm.expect(ctx, "zd=zdot.")
	tm.write("exit\r")
	tm.expect(ctx, "bash$ ")
	tm.write("exit 0\r")
	if code := tm.wait(ctx); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	checkCommands(t, tm.output(ctx), "zsh=0/false", "false=1/true", "exit=1/true", "exit 0=0/false")
}

// TestNestedSu switches user inside a session. su without - keeps the
// environment, so the other user's bash or zsh marks its commands; su -
// starts a login shell with a fresh environment, which marks nothing (the
// recorder then reads its lines off the terminal, without exit codes).
func TestNestedSu(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	if os.Geteuid() != 0 {
		t.Skip("switching to another user without a password needs root (CI runs the tests as root)")
	}
	if sh := loginShellFor(ctx, "root"); !strings.HasSuffix(sh, "bash") {
		t.Skipf("login shell of root is %s, not bash", sh)
	}
	other := throwawayUser(t) // bash
	writeFiles(t, other.HomeDir, other, map[string]string{".bashrc": "PS1='other$ '\n", ".profile": ". ~/.bashrc\n"})
	zuser := zshUser(t)
	writeFiles(t, zuser.HomeDir, zuser, map[string]string{".zshrc": "PS1='zother> '\n"})
	home := t.TempDir()
	writeFiles(t, home, nil, map[string]string{".bash_profile": "PS1='root$ '\n"})

	tm := start(t, ctx, Spec{Integration: true, Env: []string{"HOME=" + home}})
	tm.expect(ctx, "root$ ")
	tm.write("su " + other.Username + "\r")
	tm.expect(ctx, "other$ ")
	tm.write("false\r")
	tm.expect(ctx, "\x1b]133;D;1\x07")
	tm.write("exit\r")
	tm.expect(ctx, "root$ ")
	tm.write("su " + zuser.Username + "\r")
	tm.expect(ctx, "zother> ")
	tm.write("(exit 8)\r")
	tm.expect(ctx, "\x1b]133;D;8\x07")
	tm.write("exit 0\r")
	tm.expect(ctx, "root$ ")
	tm.write("su - " + other.Username + "\r")
	tm.expect(ctx, "other$ ")
	tm.write("false\r")
	tm.expect(ctx, "other$ ")
	tm.write("exit\r")
	tm.expect(ctx, "root$ ")
	tm.write("exit 0\r")
	if code := tm.wait(ctx); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	checkCommands(t, tm.output(ctx),
		"su "+other.Username+"=0/false", "false=1/true", "exit=1/true",
		"su "+zuser.Username+"=0/false", "(exit 8)=8/true", "exit 0=0/true",
		"su - "+other.Username+"=1/true", "exit 0=0/false")
}

// TestNestedSudo: sudo resets the environment (env_reset, the default), so
// the shell of sudo -s marks nothing; sudo -E keeps it, and the shell
// marks its commands.
func TestNestedSudo(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	if os.Geteuid() != 0 {
		t.Skip("sudo without a password needs root (CI runs the tests as root)")
	}
	if _, err := exec.LookPath("sudo"); err != nil {
		t.Skip("sudo is not installed (scripts/install-test-deps installs it)")
	}
	home := t.TempDir()
	writeFiles(t, home, nil, map[string]string{".bash_profile": "PS1='root$ '\n"})
	tm := start(t, ctx, Spec{Integration: true, Env: []string{"HOME=" + home, "SHELL=/bin/bash"}})
	tm.expect(ctx, "root$ ")
	for _, sudo := range []string{"sudo -s", "sudo -E -s"} {
		tm.write(sudo + "\r")
		// The default prompt of root's shell (…# ), before typing into it:
		// typed ahead, the line would be echoed by the terminal into the
		// outer shell's command line.
		tm.expect(ctx, "# ")
		tm.write("PS1='in''ner$ '\r")
		tm.expect(ctx, "inner$ ")
		tm.write("false\r")
		tm.expect(ctx, "inner$ ")
		tm.write("exit\r")
		tm.expect(ctx, "root$ ")
	}
	tm.write("exit 0\r")
	if code := tm.wait(ctx); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	checkCommands(t, tm.output(ctx),
		"sudo -s=1/true",
		"sudo -E -s=0/false", "PS1='in''ner$ '=0/true", "false=1/true", "exit=1/true",
		"exit 0=0/false")
}

// TestNestedExportedPrompt: a PS1 exported from bash carries bash's marks
// into a nested zsh, and one zsh exports carries zsh's into a bash; each
// shell marks the prompt its own way and shows none of the other's.
func TestNestedExportedPrompt(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	if _, err := exec.LookPath("zsh"); err != nil {
		t.Skip("zsh is not installed (scripts/install-test-deps installs it)")
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if sh := loginShellFor(ctx, u.Username); !strings.HasSuffix(sh, "bash") {
		t.Skipf("login shell of %s is %s, not bash", u.Username, sh)
	}
	home := t.TempDir() // no zsh startup files: zsh keeps the PS1 it was given
	writeFiles(t, home, nil, map[string]string{".bash_profile": "export PS1='ex> '\n"})
	tm := start(t, ctx, Spec{Integration: true, Env: []string{"HOME=" + home}})
	tm.expect(ctx, "ex> ")
	tm.write("zsh\r")
	tm.expect(ctx, "ex> ")
	tm.write("(exit 4)\r")
	tm.expect(ctx, "\x1b]133;D;4\x07")
	// The prompt after the mark is zsh's: wait for it, so the next line is
	// typed at a prompt rather than ahead into the terminal, where the tty
	// would echo it into zsh's command line.
	tm.expect(ctx, "ex> ")
	tm.write("bash --norc --noprofile -i\r")
	tm.expect(ctx, "ex> ")
	tm.write("(exit 5)\r")
	tm.expect(ctx, "\x1b]133;D;5\x07")
	tm.expect(ctx, "ex> ")
	tm.write("exit\r")
	tm.expect(ctx, "ex> ")
	tm.write("exit\r")
	tm.expect(ctx, "ex> ")
	tm.write("exit 0\r")
	if code := tm.wait(ctx); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	out := tm.output(ctx)
	if strings.Contains(out, `\[`) || strings.Contains(out, "%{") {
		t.Errorf("one shell's prompt marks shown by another: %q", out)
	}
	checkCommands(t, out, "zsh=0/false", "(exit 4)=4/true", "bash --norc --noprofile -i=0/false", "(exit 5)=5/true", "exit=5/true", "exit=5/true", "exit 0=0/false")
}
