package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/document"
	"github.com/postern/postern/ptytest"
	"github.com/postern/postern/shell"
)

// examples holds the shared example documents (shared/examples), copied
// unchanged.
const examples = "../document/testdata/examples"

// api returns a client signed in as the CLI is, for checks that need not
// go through the CLI: each run of the race-enabled binary costs a second
// at exit.
func (e *env) api() *client.Client {
	e.t.Helper()
	cfg, err := client.LoadConfig(e.home)
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := client.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// sessions lists every session the server has, active or ended.
func (e *env) sessions(ctx context.Context) []api.Session {
	e.t.Helper()
	ss, err := e.api().Sessions(ctx, client.SessionFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return ss
}

// waitEnded polls a session until it has ended.
func (e *env) waitEnded(ctx context.Context, id string) api.Session {
	e.t.Helper()
	c := e.api()
	for {
		s, err := c.Session(ctx, id)
		if err != nil {
			e.t.Fatal(err)
		}
		if !isActive(s) {
			return s
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("session %s stayed %+v", id, s)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logs returns a session's recording in format log or cast.
func (e *env) logs(ctx context.Context, id, format string) string {
	e.t.Helper()
	rc, err := e.api().Logs(ctx, id, format)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

// writeDoc writes a document file for the CLI and returns its path.
func writeDoc(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDocumentValidationErrors feeds the CLI broken documents and bad
// parameters. Each is refused with an error that names the field, the
// value and what it may be, and none starts a session.
func TestDocumentValidationErrors(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)
	e.mustRun(ctx, "documents", "create", "-f", filepath.Join(examples, "interactive-command.yaml"))
	node := hostname(t)

	const prefsHead = `{"schemaVersion": "1.0", "sessionType": "Standard_Stream", "inputs": `
	type file struct{ name, content string }
	tests := []struct {
		name string
		file file     // written to a temporary directory; {{file}} in args is its path
		args []string // the postern command
		want []string // in stderr, each
	}{
		{
			name: "malformed JSON",
			file: file{"broken.json", `{"schemaVersion": "1.0", "sessionType": "Standard_Stream",`},
			args: []string{"prefs", "validate", "-f", "{{file}}"},
			want: []string{"broken.json: document is not valid JSON: unexpected end of document"},
		},
		{
			name: "malformed JSON, with where",
			file: file{"comma.json", "{\n  \"schemaVersion\": \"1.0\",\n  \"sessionType\": \"Port\",,\n}"},
			args: []string{"prefs", "set", "-f", "{{file}}"},
			// Named by its file, as validate names it (issue 17, item 9).
			want: []string{"comma.json: document is not valid JSON: line 3, column"},
		},
		{
			name: "malformed YAML",
			file: file{"broken.yaml", "schemaVersion: \"1.0\"\nsessionType: [Port\n"},
			args: []string{"documents", "create", "-f", "{{file}}"},
			want: []string{"document is not valid YAML"},
		},
		{
			name: "wrong types",
			file: file{"types.json", prefsHead + `{"runAsEnabled": "yes", "s3BucketName": true, "idleSessionTimeout": "20m", "shellProfile": "date"}}`},
			args: []string{"prefs", "validate", "-f", "{{file}}"},
			want: []string{
				`inputs.runAsEnabled: must be true or false, not "yes"`,
				`inputs.s3BucketName: must be a string, not true`,
				`inputs.idleSessionTimeout: "20m" is not a whole number of minutes`,
				`inputs.shellProfile: must be an object, not "date"`,
			},
		},
		{
			name: "out of range",
			file: file{"range.json", prefsHead + `{"idleSessionTimeout": "90", "maxSessionDuration": 1441}}`},
			args: []string{"prefs", "validate", "-f", "{{file}}"},
			want: []string{
				"inputs.idleSessionTimeout: 90 is out of range 1–60",
				"inputs.maxSessionDuration: 1441 is out of range 1–1440",
			},
		},
		{
			name: "out of range, set",
			file: file{"zero.json", prefsHead + `{"idleSessionTimeout": "0"}}`},
			args: []string{"prefs", "set", "-f", "{{file}}"},
			want: []string{"inputs.idleSessionTimeout: 0 is out of range 1–60"},
		},
		{
			name: "unknown fields",
			file: file{"unknown.json", prefsHead + `{"idleSessionTimeOut": "5", "shellProfile": {"linux": "date", "macos": "date"}}, "tags": {}}`},
			args: []string{"prefs", "validate", "-f", "{{file}}"},
			want: []string{
				"inputs.idleSessionTimeOut: unknown field (did you mean idleSessionTimeout?)",
				"inputs.shellProfile.macos: unknown field (known fields are linux, windows)",
				"tags: unknown field",
			},
		},
		{
			name: "run-as without a user",
			file: file{"runas.yaml", "schemaVersion: \"1.0\"\nsessionType: Standard_Stream\ninputs:\n  runAsEnabled: true\n"},
			args: []string{"prefs", "set", "-f", "{{file}}"},
			want: []string{"inputs.runAsDefaultUser: required when runAsEnabled is true"},
		},
		{
			name: "run-as user that is no user name",
			file: file{"runas2.json", prefsHead + `{"runAsEnabled": true, "runAsDefaultUser": "-rf"}}`},
			args: []string{"prefs", "set", "-f", "{{file}}"},
			want: []string{`inputs.runAsDefaultUser: "-rf" is not a valid user name`},
		},
		{
			name: "unknown session type",
			file: file{"shell.json", `{"schemaVersion": "1.0", "sessionType": "Shell", "properties": {"commands": "date"}}`},
			args: []string{"documents", "create", "-f", "{{file}}"},
			want: []string{`sessionType: "Shell" is not one of Standard_Stream, InteractiveCommands, NonInteractiveCommands, Port`},
		},
		{
			name: "preferences that are not Standard_Stream",
			args: []string{"prefs", "set", "-f", filepath.Join(examples, "port-forwarding-remote-host.json")},
			want: []string{"sessionType: the preferences document must be Standard_Stream, not Port"},
		},
		{
			name: "placeholder without a parameter",
			file: file{"undefined.yaml", "schemaVersion: \"1.0\"\nsessionType: InteractiveCommands\nparameters:\n  path: {type: String}\nproperties:\n  linux:\n    commands: ls {{ pth }}\n"},
			args: []string{"documents", "create", "-f", "{{file}}"},
			want: []string{"properties.linux.commands: {{ pth }} refers to an undefined parameter pth (did you mean path?)"},
		},
		{
			name: "placeholder inside quotes",
			file: file{"quoted.yaml", "schemaVersion: \"1.0\"\nsessionType: InteractiveCommands\nparameters:\n  msg: {type: String}\nproperties:\n  linux:\n    commands: echo \"{{ msg }}\"\n"},
			args: []string{"documents", "create", "-f", "{{file}}"},
			want: []string{"{{ msg }} is inside double quotes, where its value could not be kept as data"},
		},
		{
			name: "reserved document name",
			args: []string{"documents", "create", "--name", "AWS-StartSSHSession", "-f", filepath.Join(examples, "port-forwarding-remote-host.json")},
			want: []string{`names starting with "AWS-" are reserved for built-in documents`},
		},
		{
			name: "missing required parameter",
			args: []string{"connect", node, "--document", "Postern-StartInteractiveCommand"},
			want: []string{"parameter command: required (the document gives it no default)"},
		},
		{
			name: "parameter the document does not have",
			args: []string{"connect", node, "--document", "AWS-StartInteractiveCommand", "--parameters", "comand=date"},
			want: []string{"parameter comand: not a parameter of this document (did you mean command?)"},
		},
		{
			name: "parameters for the shell",
			args: []string{"connect", node, "--parameters", "command=date"},
			want: []string{"Postern-SessionManagerRunShell takes no parameters"},
		},
		{
			name: "parameter failing its pattern",
			args: []string{"connect", node, "--document", "interactive-command", "--parameters", "logPath=/tmp/x; touch /tmp/pwned"},
			want: []string{`parameter logPath: "/tmp/x; touch /tmp/pwned" does not match allowedPattern ^[a-zA-Z0-9_./-]{1,200}$`},
		},
		{
			name: "port out of range",
			args: []string{"forward", node, "--document", "Postern-StartPortForwardingSession", "--port", "8080", "--local-port", "70000"},
			want: []string{"--local-port 70000: must be 0–65535"},
		},
		{
			name: "port parameter failing its pattern",
			args: []string{"connect", node, "--document", "Postern-StartSSHSession", "--parameters", "portNumber=22 -oProxyCommand=x"},
			want: []string{`parameter portNumber: "22 -oProxyCommand=x" does not match allowedPattern`},
		},
		{
			name: "unknown document",
			args: []string{"connect", node, "--document", "no-such-document"},
			want: []string{`document "no-such-document" does not exist`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string(nil), tt.args...)
			if tt.file.name != "" {
				p := writeDoc(t, tt.file.name, tt.file.content)
				for i, a := range args {
					args[i] = strings.ReplaceAll(a, "{{file}}", p)
				}
			}
			out, errOut, code := e.run(ctx, args...)
			if code == 0 {
				t.Fatalf("postern %v succeeded:\n%s", tt.args, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("postern %v: stderr lacks %q:\n%s", tt.args, w, errOut)
				}
			}
		})
	}
	// Nothing started, and nothing was stored but the one document.
	if ss := e.sessions(ctx); len(ss) != 0 {
		t.Errorf("the server has %d sessions after refusals only, want none: %+v", len(ss), ss)
	}
	c := e.api()
	docs, err := c.Documents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if !d.Builtin && d.Name != "interactive-command" {
			t.Errorf("document %s (%s) was stored", d.Name, d.SessionType)
		}
	}
	prefs, err := c.Preferences(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if builtin, _ := document.BuiltinContent(document.DefaultPreferences); prefs.Content != builtin {
		t.Errorf("preferences changed:\n%s", prefs.Content)
	}
}

// TestParametersAreData passes shell syntax through a parameter of a
// command: it is printed as the text it is and runs nothing.
func TestParametersAreData(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)
	doc := writeDoc(t, "say.yaml", `schemaVersion: "1.0"
description: Print a message
sessionType: InteractiveCommands
parameters:
  msg:
    type: String
    description: What to print
  words:
    type: StringList
    default: ["none"]
properties:
  linux:
    commands:
      - echo before
      - echo {{ msg }} | tr a-z A-Z
      - printf '<%s>' {{ words }}; echo
      - echo after
`)
	e.mustRun(ctx, "documents", "create", "-f", doc)

	dir := t.TempDir()
	pwned := func(i int) string { return filepath.Join(dir, fmt.Sprintf("pwned-%d", i)) }
	// Commas, and what looks like the next parameter, are part of the
	// value.
	msg := fmt.Sprintf(`x, y; touch %s $(touch %s) `+"`touch %s`"+` '; touch %s; ' "; touch %s; " && touch %s,words=z`,
		pwned(1), pwned(2), pwned(3), pwned(4), pwned(5), pwned(6))
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace
	list := `["a b","$(touch ` + pwned(7) + `)"]`
	for _, flag := range []string{
		`msg="` + esc(msg) + `",words=` + list,              // the CLI's shorthand
		`{"msg":["` + esc(msg) + `"],"words":` + list + `}`, // the AWS CLI's JSON
	} {
		out, errOut, code := e.run(ctx, "connect", hostname(t), "--document", "say", "--parameters", flag)
		if code != 0 {
			t.Fatalf("connect --parameters %s: exit %d\n%s%s", flag, code, out, errOut)
		}
		if want := "before\r\n" + strings.ToUpper(msg) + "\r\n<a b><$(touch " + pwned(7) + ")>\r\nafter\r\n"; !strings.Contains(out, want) {
			t.Errorf("--parameters %s: output lacks the message and the list as data, the message upper-cased by the document's pipe (%q):\n%q", flag, want, out)
		}
	}
	for i := 1; i <= 7; i++ {
		if _, err := os.Stat(pwned(i)); err == nil {
			t.Errorf("%s exists: the parameter ran as a command", pwned(i))
		}
	}
}

// TestSharedExamples loads Session Manager's example documents unchanged
// through the CLI, and runs them: the preferences with every input, the
// interactive command in YAML, and port forwarding to a remote host.
func TestSharedExamples(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	// The example preferences log to an encrypted bucket and log group,
	// and seal recordings with the key alias/session-manager-logs;
	// sessions are refused unless they exist.
	d := startDestinations(t)
	e := startDevEnv(t, d.env())
	e.mustRun(ctx, "keys", "create", "--alias", "alias/session-manager-logs")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(examples, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, name := range []string{"preferences-all-inputs.json", "port-forwarding-remote-host.json", "interactive-command.yaml"} {
		p := filepath.Join(examples, name)
		if out := e.mustRun(ctx, "prefs", "validate", "-f", p); out != p+" is valid.\n" {
			t.Errorf("prefs validate -f %s: %q", name, out)
		}
	}
	if out := e.mustRun(ctx, "prefs", "set", "-f", filepath.Join(examples, "preferences-all-inputs.json")); out != "Preferences updated (version 1).\n" {
		t.Errorf("prefs set: %q", out)
	}
	if got, want := e.mustRun(ctx, "prefs", "get"), read("preferences-all-inputs.json"); strings.TrimSpace(got) != strings.TrimSpace(want) {
		t.Errorf("prefs get returned\n%s\nwant the document as set:\n%s", got, want)
	}
	for _, d := range []struct{ file, name, typ string }{
		{"port-forwarding-remote-host.json", "port-forwarding-remote-host", "Port"},
		{"interactive-command.yaml", "interactive-command", "InteractiveCommands"},
	} {
		out := e.mustRun(ctx, "documents", "create", "-f", filepath.Join(examples, d.file))
		if want := fmt.Sprintf("Created %s version 1 (%s).\n", d.name, d.typ); out != want {
			t.Errorf("documents create -f %s: %q, want %q", d.file, out, want)
		}
		if got, err := e.api().Document(ctx, d.name, 0); err != nil || got.Content != read(d.file) {
			t.Errorf("document %s is stored as\n%s\nwant the file as written (err %v)", d.name, got.Content, err)
		}
	}

	// The preferences run sessions as ssm-user (runAsDefaultUser), which
	// takes an agent running as root. Session Manager's agent provisions
	// ssm-user; Postern's does only for its own default.
	asRoot := os.Geteuid() == 0
	const notRoot = "the preferences run sessions as ssm-user, which needs the agent to run as root; the tests run as root in CI"
	if asRoot {
		if _, err := shell.EnsureUser(ctx, "ssm-user"); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("preferences", func(t *testing.T) {
		if !asRoot {
			t.Skip(notRoot)
		}
		u, err := user.Lookup("ssm-user")
		if err != nil {
			t.Fatal(err)
		}
		pty := ptytest.Start(t, e.connectCmd(hostname(t)))
		id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
		// shellProfile.linux is "cd $HOME; pwd": typed at the start.
		pty.Expect(ctx, "cd $HOME; pwd")
		pty.Expect(ctx, u.HomeDir+"\r\n")
		pty.WriteLine("echo I am $(whoami)")
		pty.Expect(ctx, "I am ssm-user")
		pty.WriteLine("exit 0")
		if code := pty.Wait(ctx); code != 0 {
			t.Errorf("connect exited %d", code)
		}
		if s := e.waitEnded(ctx, id); s.RunAsUser != "ssm-user" || s.Status != "Terminated" {
			t.Errorf("session = %+v, want Terminated, run as ssm-user", s)
		}
		d.checkDelivered(ctx, t, e, id, "ssm-user", "I am ssm-user")
		// Typed once the shell reads its first line: once in the
		// transcript, not echoed as type-ahead and again by readline.
		if n := strings.Count(e.mustRun(ctx, "logs", "get", id), "cd $HOME; pwd"); n != 1 {
			t.Errorf("the shell profile is %d times in the transcript, want once", n)
		}
	})

	t.Run("interactive command", func(t *testing.T) {
		if !asRoot {
			t.Skip(notRoot)
		}
		// Readable by whoever the preferences run sessions as.
		dir, err := os.MkdirTemp("", "postern-log-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		os.Chmod(dir, 0o755)
		log := filepath.Join(dir, "app.log")
		if err := os.WriteFile(log, []byte("first line\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		pty := ptytest.Start(t, e.connectCmd(hostname(t), "--document", "interactive-command", "--parameters", "logPath="+log))
		id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
		pty.Expect(ctx, "first line")
		// tail -f follows the file.
		f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(f, "appended line")
		f.Close()
		pty.Expect(ctx, "appended line")
		pty.Write("\x03") // Ctrl-C ends tail, and with it the session
		pty.Wait(ctx)
		s := e.waitEnded(ctx, id)
		if s.Document != "interactive-command" || s.Status != "Terminated" {
			t.Errorf("session = %+v, want a Terminated interactive-command session", s)
		}
		if log := e.logs(ctx, id, "log"); !strings.Contains(log, "appended line") {
			t.Errorf("transcript lacks the command's output:\n%s", log)
		}
	})

	t.Run("port forwarding to a remote host", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "remote host says hello to %s", r.URL.Path)
		})}
		go srv.Serve(ln)
		defer srv.Close()
		port := ln.Addr().(*net.TCPAddr).Port
		local := freePort(t)
		fwd := start(t, e.vars(), "forward", hostname(t), "--document", "port-forwarding-remote-host",
			"--host", "127.0.0.1", "--port", fmt.Sprint(port), "--local-port", fmt.Sprint(local))
		id := fwd.waitFor(ctx, regexp.MustCompile(`Port \d+ opened for sessionId (\S+)\.`))[1]
		hc := &http.Client{Timeout: 30 * time.Second}
		resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/via-postern", local))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "remote host says hello to /via-postern" {
			t.Errorf("through the forward: %q", body)
		}
		fwd.signal(syscall.SIGINT)
		fwd.waitFor(ctx, regexp.MustCompile(`Exiting session with sessionId`))
		s := e.waitEnded(ctx, id)
		if s.Document != "port-forwarding-remote-host" || s.Status != "Terminated" {
			t.Errorf("session = %+v, want a Terminated port-forwarding-remote-host session", s)
		}
		cast := e.logs(ctx, id, "cast")
		if !strings.Contains(cast, fmt.Sprintf(" to 127.0.0.1:%d opened", port)) {
			t.Errorf("recording does not list the connection to 127.0.0.1:%d:\n%s", port, cast)
		}
	})
}
