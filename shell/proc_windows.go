//go:build windows

package shell

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unicode/utf16"
	"unsafe"

	"golang.org/x/sys/windows"
)

// On Windows a session's processes run in a job object: ending the
// session ends every process it started, as a process group's SIGKILL does
// on Linux, and a process started by one cannot escape it (each starts
// suspended and is put in the job before it runs a single instruction).

// started is a process created by createProcess, in its job.
type started struct {
	process windows.Handle
	job     windows.Handle // KILL_ON_JOB_CLOSE: closing it ends the processes left
	pid     int
	logon   *userLogon // the run-as account's logon; nil: the agent's own

	mu       sync.Mutex // guards released, and the handles' use against their release
	released bool
}

// procOptions are createProcess's inputs.
type procOptions struct {
	argv []string // argv[0] resolved to a full path
	env  []string
	dir  string
	// std, when set, are the child's standard input, output and error;
	// they are the only handles it inherits.
	std *[3]windows.Handle
	// console, when set, is the pseudo console the child is attached to.
	console windows.Handle
	// logon, when set, is the account the child runs as (its token and
	// profile); createProcess takes it over, the process's release
	// releases it, and so does a failed start.
	logon *userLogon
}

// createProcess starts o's program suspended, puts it in a new job, and
// lets it run.
func createProcess(o procOptions) (_ *started, err error) {
	defer func() {
		if err != nil {
			o.logon.close()
		}
	}()
	attrs, err := windows.NewProcThreadAttributeList(2)
	if err != nil {
		return nil, fmt.Errorf("shell: %w", err)
	}
	defer attrs.Delete()
	si := &windows.StartupInfoEx{ProcThreadAttributeList: attrs.List()}
	si.Cb = uint32(unsafe.Sizeof(*si))
	inherit := false
	if o.std != nil {
		si.Flags |= windows.STARTF_USESTDHANDLES
		si.StdInput, si.StdOutput, si.StdErr = o.std[0], o.std[1], o.std[2]
		// Only these three are inherited, not whatever other session's
		// handles are inheritable at this moment.
		handles := uniqueHandles(o.std[:])
		if err := attrs.Update(windows.PROC_THREAD_ATTRIBUTE_HANDLE_LIST, unsafe.Pointer(&handles[0]), uintptr(len(handles))*unsafe.Sizeof(handles[0])); err != nil {
			return nil, fmt.Errorf("shell: handle list: %w", err)
		}
		inherit = true
	}
	if o.console != 0 {
		// The attribute's value is the console handle itself, not a
		// pointer to it (it points into the console's own memory, never
		// Go's).
		hpc := *(*unsafe.Pointer)(unsafe.Pointer(&o.console))
		if err := attrs.Update(windows.PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE, hpc, unsafe.Sizeof(o.console)); err != nil {
			return nil, fmt.Errorf("shell: pseudo console attribute: %w", err)
		}
	}
	cmdline, err := windows.UTF16PtrFromString(windows.ComposeCommandLine(o.argv))
	if err != nil {
		return nil, fmt.Errorf("shell: command line: %w", err)
	}
	app, err := windows.UTF16PtrFromString(o.argv[0])
	if err != nil {
		return nil, fmt.Errorf("shell: program: %w", err)
	}
	var dir *uint16
	if o.dir != "" {
		if dir, err = windows.UTF16PtrFromString(o.dir); err != nil {
			return nil, fmt.Errorf("shell: directory: %w", err)
		}
	}
	block, err := envBlock(o.env)
	if err != nil {
		return nil, err
	}
	job, err := newJob()
	if err != nil {
		return nil, err
	}
	var pi windows.ProcessInformation
	flags := uint32(windows.CREATE_SUSPENDED | windows.CREATE_UNICODE_ENVIRONMENT | windows.EXTENDED_STARTUPINFO_PRESENT)
	if o.logon != nil {
		// Not the agent's window station (the service's, which the
		// account may not open: its programs would fail to start with
		// 0xC0000142): an empty name makes Windows connect the process
		// to its own logon session's, created for it.
		si.Desktop = &emptyDesktop[0]
		err = windows.CreateProcessAsUser(o.logon.token, app, cmdline, nil, nil, inherit, flags, block, dir, &si.StartupInfo, &pi)
	} else {
		err = windows.CreateProcess(app, cmdline, nil, nil, inherit, flags, block, dir, &si.StartupInfo, &pi)
	}
	if err != nil {
		windows.CloseHandle(job)
		return nil, fmt.Errorf("shell: start %s: %w", o.argv[0], err)
	}
	defer windows.CloseHandle(pi.Thread)
	if err := windows.AssignProcessToJobObject(job, pi.Process); err != nil {
		windows.TerminateProcess(pi.Process, 1)
		windows.CloseHandle(pi.Process)
		windows.CloseHandle(job)
		return nil, fmt.Errorf("shell: job: %w", err)
	}
	if _, err := windows.ResumeThread(pi.Thread); err != nil {
		windows.TerminateJobObject(job, 1)
		windows.CloseHandle(pi.Process)
		windows.CloseHandle(job)
		return nil, fmt.Errorf("shell: resume %s: %w", o.argv[0], err)
	}
	return &started{process: pi.Process, job: job, pid: int(pi.ProcessId), logon: o.logon}, nil
}

// emptyDesktop is STARTUPINFO's lpDesktop "" (see createProcess).
var emptyDesktop = [1]uint16{0}

func newJob() (windows.Handle, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return 0, fmt.Errorf("shell: job: %w", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{}
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation, uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		windows.CloseHandle(job)
		return 0, fmt.Errorf("shell: job limits: %w", err)
	}
	return job, nil
}

// wait waits for the process and returns its exit code.
func (s *started) wait() (int, error) {
	if _, err := windows.WaitForSingleObject(s.process, windows.INFINITE); err != nil {
		return -1, fmt.Errorf("shell: wait: %w", err)
	}
	var code uint32
	if err := windows.GetExitCodeProcess(s.process, &code); err != nil {
		return -1, fmt.Errorf("shell: exit code: %w", err)
	}
	return int(code), nil
}

// kill ends every process of the job; once the handles are released it
// does nothing (their values may be another's by then).
func (s *started) kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return nil
	}
	if err := windows.TerminateJobObject(s.job, 1); err != nil {
		return fmt.Errorf("shell: end the session's processes: %w", err)
	}
	return nil
}

// release closes the handles (the job's last: what is left of it ends).
// Only the goroutine that waits calls it, after its wait.
func (s *started) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return
	}
	s.released = true
	windows.CloseHandle(s.process)
	windows.CloseHandle(s.job)
	s.logon.close()
}

func uniqueHandles(hs []windows.Handle) []windows.Handle {
	var out []windows.Handle
	for _, h := range hs {
		dup := false
		for _, o := range out {
			dup = dup || o == h
		}
		if !dup {
			out = append(out, h)
		}
	}
	return out
}

// envBlock is env as CreateProcess takes it: KEY=VALUE entries, each
// ending in a NUL, sorted by name without regard to case, and a final NUL.
func envBlock(env []string) (*uint16, error) {
	env = append([]string(nil), env...)
	sort.SliceStable(env, func(i, j int) bool { return strings.ToUpper(envKey(env[i])) < strings.ToUpper(envKey(env[j])) })
	var b []uint16
	for _, kv := range env {
		if strings.ContainsRune(kv, 0) {
			return nil, fmt.Errorf("shell: bad environment entry %q", kv)
		}
		b = append(b, utf16.Encode([]rune(kv))...)
		b = append(b, 0)
	}
	b = append(b, 0)
	if len(b) == 1 {
		b = append(b, 0)
	}
	return &b[0], nil
}

func envKey(kv string) string {
	// Windows has variables whose names start with '=' (=C:=C:\...).
	if i := strings.IndexByte(kv[min(1, len(kv)):], '='); i >= 0 {
		return kv[:i+min(1, len(kv))]
	}
	return kv
}

// sessionEnv is the environment a session starts with: its user's own,
// as a new logon of it has (for the agent's own user, not the agent's
// environment, which may hold secrets), then extra; names match without
// regard to case, later entries win. logon nil is the agent's own user.
func sessionEnv(logon *userLogon, extra []string) ([]string, error) {
	tok := windows.Token(0)
	if logon != nil {
		tok = logon.token
	} else {
		t, err := windows.OpenCurrentProcessToken()
		if err != nil {
			return nil, fmt.Errorf("shell: the agent's token: %w", err)
		}
		defer t.Close()
		tok = t
	}
	base, err := tok.Environ(false)
	if err != nil {
		return nil, fmt.Errorf("shell: the user's environment: %w", err)
	}
	for _, kv := range extra {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.ContainsRune(kv, 0) {
			return nil, fmt.Errorf("shell: bad environment entry %q: want KEY=VALUE", kv)
		}
	}
	all := append(base, extra...)
	var out []string
	index := map[string]int{}
	for _, kv := range all {
		k := strings.ToUpper(envKey(kv))
		if i, ok := index[k]; ok {
			out[i] = kv
			continue
		}
		index[k] = len(out)
		out = append(out, kv)
	}
	return out, nil
}

// getenv looks key up in env, without regard to case.
func getenv(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && strings.EqualFold(k, key) {
			v = val
		}
	}
	return v
}

// lookPathIn finds file as the session's environment would: a name with a
// directory as it is, otherwise in env's PATH, trying env's PATHEXT
// extensions when it has none.
func lookPathIn(file string, env []string) (string, error) {
	exts := strings.Split(strings.ToLower(getenv(env, "PATHEXT")), ";")
	if getenv(env, "PATHEXT") == "" {
		exts = []string{".com", ".exe", ".bat", ".cmd"}
	}
	try := func(p string) (string, bool) {
		if filepath.Ext(p) != "" {
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				return p, true
			}
		}
		for _, e := range exts {
			if e == "" {
				continue
			}
			if fi, err := os.Stat(p + e); err == nil && !fi.IsDir() {
				return p + e, true
			}
		}
		return "", false
	}
	if strings.ContainsAny(file, `\/:`) {
		if p, ok := try(file); ok {
			return p, nil
		}
		return "", fmt.Errorf("shell: %s: %w", file, os.ErrNotExist)
	}
	for _, dir := range filepath.SplitList(getenv(env, "PATH")) {
		if dir == "" {
			continue
		}
		if p, ok := try(filepath.Join(dir, file)); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("shell: %s: %w", file, errNotFound)
}

var errNotFound = errors.New("not found in the session's PATH")

// defaultShell is what a session without a command runs: Windows
// PowerShell, as Session Manager does; cmd.exe (%ComSpec%) where there is
// none.
func defaultShell(env []string) []string {
	root := getenv(env, "SystemRoot")
	if root == "" {
		root = `C:\Windows`
	}
	ps := filepath.Join(root, "System32", "WindowsPowerShell", "v1.0", "powershell.exe")
	if _, err := os.Stat(ps); err == nil {
		return []string{ps, "-NoLogo"}
	}
	if cs := getenv(env, "ComSpec"); cs != "" {
		return []string{cs}
	}
	return []string{filepath.Join(root, "System32", "cmd.exe")}
}

// prepareWindows resolves what s starts: its argv (the program's full
// path first), environment and directory, and the logon of its user (nil:
// the agent's own), which the caller hands to createProcess.
func prepareWindows(s Spec) (argv, env []string, dir string, logon *userLogon, err error) {
	if logon, err = userFor(s.User); err != nil {
		return nil, nil, "", nil, err
	}
	defer func() {
		if err != nil {
			logon.close()
			logon = nil
		}
	}()
	if env, err = sessionEnv(logon, s.Env); err != nil {
		return nil, nil, "", nil, err
	}
	argv = s.Command
	if len(argv) == 0 && s.Shell != "" {
		argv = []string{s.Shell}
	}
	if len(argv) == 0 {
		argv = defaultShell(env)
	}
	path, err := lookPathIn(argv[0], env)
	if err != nil {
		return nil, nil, "", nil, err
	}
	argv = append([]string{path}, argv[1:]...)
	dir = s.Dir
	if dir == "" {
		dir = getenv(env, "USERPROFILE")
	}
	if fi, err := os.Stat(dir); dir == "" || err != nil || !fi.IsDir() {
		dir = getenv(env, "SystemRoot")
	}
	return argv, env, dir, logon, nil
}
