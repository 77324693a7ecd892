package nodeinstall

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/pki"
)

// server is the handler as the Postern server mounts it, on TLS, with a
// CA of its own that issued its certificate.
type server struct {
	*httptest.Server
	h     *Handler
	pin   string
	ca    string // the CA certificate's file
	caPEM []byte // the CA certificate
}

func newServer(t *testing.T, downloads string) *server {
	t.Helper()
	return newServerServing(t, downloads, nil)
}

// newServerServing is newServer serving serveCA(its CA's PEM) as its CA
// instead (set before the server starts: its handlers read it).
func newServerServing(t *testing.T, downloads string, serveCA func([]byte) []byte) *server {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(t.TempDir(), "test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{Downloads: downloads, CAPEM: ca.CertPEM}
	if serveCA != nil {
		h.CAPEM = serveCA(ca.CertPEM)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathScript, h.Script)
	mux.HandleFunc("GET "+PathScriptPS, h.ScriptPS)
	mux.HandleFunc("GET "+PathCA, h.CA)
	mux.HandleFunc("GET "+PathAgent+"{file}", h.Agent)
	ts := httptest.NewUnstartedServer(mux)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // curl refusing the certificate, on purpose
	ts.StartTLS()
	t.Cleanup(ts.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return &server{Server: ts, h: h, pin: ca.Pin(), ca: caFile, caPEM: ca.CertPEM}
}

// get fetches path, trusting the server's CA.
func (s *server) get(t *testing.T, path string) (int, string) {
	t.Helper()
	res, err := s.Client().Get(s.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// script is the install script as the server renders it.
func (s *server) script(t *testing.T) string {
	t.Helper()
	code, body := s.get(t, PathScript)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", PathScript, code, body)
	}
	return body
}

// run runs the served script with sh, as root or not, and returns its
// output and whether it succeeded.
func (s *server) run(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	for _, tool := range []string{"sh", "curl", "sha256sum", "base64"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is needed (scripts/install-test-deps)", tool)
			}
			t.Skipf("no %s here", tool)
		}
	}
	cmd := exec.Command("sh", append([]string{"-s", "--"}, args...)...)
	cmd.Stdin = strings.NewReader(s.script(t))
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func writeExe(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

func sum(b string) string {
	s := sha256.Sum256([]byte(b))
	return hex.EncodeToString(s[:])
}

// empty fails unless dir holds nothing (or is missing).
func empty(t *testing.T, dir string) {
	t.Helper()
	var files []string
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if len(files) > 0 {
		t.Errorf("left behind: %v", files)
	}
}

// TestListing: the newest build of each platform, by name, with its
// SHA-256; a file replaced is hashed again; other names are not offered
// and not served.
func TestListing(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	files := map[string]string{
		"postern-agent-1.0.0-linux-amd64":       "old linux",
		"postern-agent-1.1.0-linux-amd64":       "new linux",
		"postern-agent-1.1.0-darwin-arm64":      "mac",
		"postern-agent-1.1.0-windows-amd64.exe": "windows",
		"postern-1.1.0-linux-amd64":             "the server",
		"SHA256SUMS":                            "whatever",
		"postern-agent-1.1.0-plan9-amd64":       "no",
	}
	for name, content := range files {
		writeExe(t, filepath.Join(dir, name), content)
	}
	os.Chtimes(filepath.Join(dir, "postern-agent-1.0.0-linux-amd64"), old, old)
	s := newServer(t, dir)

	code, sums := s.get(t, PathAgent+SumsFile)
	want := sum("mac") + "  postern-agent-1.1.0-darwin-arm64\n" +
		sum("new linux") + "  postern-agent-1.1.0-linux-amd64\n" +
		sum("windows") + "  postern-agent-1.1.0-windows-amd64.exe\n"
	if code != http.StatusOK || sums != want {
		t.Fatalf("%s: %d\n%s\nwant\n%s", SumsFile, code, sums, want)
	}
	if code, body := s.get(t, PathAgent+"postern-agent-1.1.0-linux-amd64"); code != http.StatusOK || body != "new linux" {
		t.Errorf("the build: %d %q", code, body)
	}
	for _, name := range []string{"postern-agent-1.0.0-linux-amd64", "postern-1.1.0-linux-amd64", "postern-agent-1.1.0-plan9-amd64", "..%2fetc%2fpasswd", "nothing"} {
		if code, body := s.get(t, PathAgent+name); code != http.StatusNotFound {
			t.Errorf("%s: %d %q, want 404", name, code, body)
		}
	}

	// Replaced: hashed again.
	writeExe(t, filepath.Join(dir, "postern-agent-1.1.0-darwin-arm64"), "mac, rebuilt")
	later := time.Now().Add(time.Minute)
	os.Chtimes(filepath.Join(dir, "postern-agent-1.1.0-darwin-arm64"), later, later)
	if _, sums := s.get(t, PathAgent+SumsFile); !strings.Contains(sums, sum("mac, rebuilt")+"  postern-agent-1.1.0-darwin-arm64\n") {
		t.Errorf("after a rebuild:\n%s", sums)
	}

	if code, body := s.get(t, PathCA); code != http.StatusOK || !strings.HasPrefix(body, "-----BEGIN CERTIFICATE-----") {
		t.Errorf("%s: %d %q", PathCA, code, body)
	}
}

// TestNoDownloads: a server without agentDownloads says so, and the
// script stops with that and installs nothing.
func TestNoDownloads(t *testing.T) {
	s := newServer(t, "")
	if code, body := s.get(t, PathAgent+SumsFile); code != http.StatusNotFound || !strings.Contains(body, "set agentDownloads in its configuration") {
		t.Errorf("%d %q", code, body)
	}
	root := t.TempDir()
	out, ok := s.run(t, "--code", "C", "--id", "I", "--ca-pin", s.pin, "--root", root)
	if ok || !strings.Contains(out, "answered 404: this server offers no agent downloads: set agentDownloads") || !strings.Contains(out, "nothing was installed") {
		t.Errorf("ok=%v:\n%s", ok, out)
	}
	empty(t, root)
}

// TestWrongPin: a CA other than the pinned one stops the script before
// anything else is fetched.
func TestWrongPin(t *testing.T) {
	dir := t.TempDir()
	writeExe(t, filepath.Join(dir, "postern-agent-linux-"+runtime.GOARCH), "#!/bin/sh\necho never\n")
	s := newServer(t, dir)
	root := t.TempDir()
	wrong := "sha256:" + strings.Repeat("0", 64)
	out, ok := s.run(t, "--code", "C", "--id", "I", "--ca-pin", wrong, "--root", root)
	if ok || !strings.Contains(out, "the server's CA is "+s.pin+", not the pinned "+wrong) {
		t.Errorf("ok=%v:\n%s", ok, out)
	}
	empty(t, root)
}

// TestWithoutPin: without a pin the server's certificate must be one the
// system trusts; this one is not, and the script says what to do.
func TestWithoutPin(t *testing.T) {
	s := newServer(t, t.TempDir())
	root := t.TempDir()
	out, ok := s.run(t, "--code", "C", "--id", "I", "--root", root)
	if ok || !strings.Contains(out, "this system does not trust the server's certificate: pass --ca-pin") {
		t.Errorf("ok=%v:\n%s", ok, out)
	}
	empty(t, root)
}

// TestNoBuildForThisPlatform names what the server has.
func TestNoBuildForThisPlatform(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the test's platform is linux")
	}
	dir := t.TempDir()
	writeExe(t, filepath.Join(dir, "postern-agent-2.0.0-darwin-arm64"), "mac")
	s := newServer(t, dir)
	root := t.TempDir()
	out, ok := s.run(t, "--code", "C", "--id", "I", "--ca-pin", s.pin, "--root", root)
	if ok || !strings.Contains(out, "the server offers no postern-agent for linux/"+runtime.GOARCH+" (it has: postern-agent-2.0.0-darwin-arm64 )") {
		t.Errorf("ok=%v:\n%s", ok, out)
	}
	empty(t, root)
}

// TestDamagedDownload: a build that does not match the checksum listed
// (here: changed in place, same size and time, so the server's checksum
// is stale) is refused.
func TestDamagedDownload(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the test's platform is linux")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "postern-agent-linux-"+runtime.GOARCH)
	writeExe(t, path, "#!/bin/sh\necho postern-agent 1\n")
	s := newServer(t, dir)
	if _, sums := s.get(t, PathAgent+SumsFile); !strings.Contains(sums, sum("#!/bin/sh\necho postern-agent 1\n")) {
		t.Fatalf("listed:\n%s", sums)
	}
	fi, _ := os.Stat(path)
	writeExe(t, path, "#!/bin/sh\necho postern-agent 2\n")
	os.Chtimes(path, fi.ModTime(), fi.ModTime())
	root := t.TempDir()
	out, ok := s.run(t, "--code", "C", "--id", "I", "--ca-pin", s.pin, "--root", root)
	if ok || !strings.Contains(out, "the download is damaged; nothing was installed") {
		t.Errorf("ok=%v:\n%s", ok, out)
	}
	empty(t, root)
}

// TestArguments: each mistake is named before anything is fetched.
func TestArguments(t *testing.T) {
	s := newServer(t, "")
	root := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--id", "I"}, "--code and --id are needed"},
		{[]string{"--code", "C", "--id", "I", "--ca-pin", "md5:00"}, "--ca-pin md5:00: not sha256: and 64 hexadecimal digits"},
		{[]string{"--code", "C", "--id", "I", "--ca-pin", "sha256:" + strings.Repeat("g", 64)}, "not sha256: and 64 hexadecimal digits"},
		{[]string{"--code", "C", "--id", "I", "--server", "http://x"}, "--server http://x: not an https:// URL"},
		{[]string{"--code", "C", "--id", "I", "--frobnicate"}, "unknown option --frobnicate"},
		{[]string{"--code"}, "--code needs a value"},
		{[]string{"--upgrade"}, "--upgrade: this node is not registered here"},
	} {
		out, ok := s.run(t, append([]string{"--root", root}, c.args...)...)
		if ok || !strings.Contains(out, c.want) {
			t.Errorf("%q: ok=%v, want %q:\n%s", c.args, ok, c.want, out)
		}
	}
	empty(t, root)
	if out, ok := s.run(t, "--help"); !ok || !strings.Contains(out, "usage: install.sh --code CODE --id ID") {
		t.Errorf("--help: ok=%v\n%s", ok, out)
	}
}

// TestScriptServer: the script's default server is where it was fetched
// from, when that is a plain host; anything else is left out.
func TestScriptServer(t *testing.T) {
	for host, want := range map[string]string{
		"postern.example.com:8443": "https://postern.example.com:8443",
		"10.0.0.1":                 "https://10.0.0.1",
		"[::1]:8443":               "https://[::1]:8443",
		"::1":                      "",
		"a'b:1":                    "",
		"$(reboot)":                "",
		"host:port":                "",
		"host:99999999":            "",
		"":                         "",
		"-x":                       "",
	} {
		if got := serverURL(host); got != want {
			t.Errorf("serverURL(%q) = %q, want %q", host, got, want)
		}
	}
	s := newServer(t, "")
	if !strings.Contains(s.script(t), "\nserver='"+s.URL+"'\n") {
		t.Errorf("the script does not default to %s", s.URL)
	}
}

func FuzzServerURL(f *testing.F) {
	for _, s := range []string{"example.com:8443", "[::1]:1", "a'b", "x;y", "1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		u := serverURL(host)
		if u == "" {
			return
		}
		if u != "https://"+host || strings.ContainsAny(host, "'\"`$\\;&|<> \t\n(){}*?") {
			t.Fatalf("serverURL(%q) = %q", host, u)
		}
	})
}

// TestCommand: the printed command's words are quoted where they must
// be, and its CA check accepts the server's CA and nothing else (run with
// sh up to the check; the install itself is tested end to end in e2e).
func TestCommand(t *testing.T) {
	if got := Command("https://h:1/", nil, "abc", "id-1", ""); got != "curl -fsSL https://h:1/install.sh | sudo sh -s -- --code abc --id id-1" {
		t.Errorf("without a pin: %s", got)
	}
	if got := Command("https://h:1", nil, "a b", "$(x)", ""); !strings.HasSuffix(got, "--code 'a b' --id '$(x)'") {
		t.Errorf("quoted: %s", got)
	}
	if got := UpgradeCommand("https://h:1/", nil, ""); got != "curl -fsSL https://h:1/install.sh | sudo sh -s -- --upgrade" {
		t.Errorf("upgrade without a pin: %s", got)
	}
	other, err := pki.LoadOrCreateCA(t.TempDir(), "another CA")
	if err != nil {
		t.Fatal(err)
	}
	// The real CA with another after it: the pin's certificate comes
	// first, but curl would trust both.
	withOther := func(real []byte) []byte {
		return append(append(append([]byte(nil), real...), "!\n"...), other.CertPEM...)
	}
	for _, c := range []struct {
		name   string
		serve  func([]byte) []byte
		pass   bool
		reason string
	}{{"its CA", nil, true, ""}, {"another CA", func([]byte) []byte { return other.CertPEM }, false, "the server CA is not the one the activation pins"}, {"its CA and another", withOther, false, "the server CA is not the one the activation pins"}} {
		s := newServerServing(t, "", c.serve)
		served := s.caPEM
		if err := CheckCA(served, s.pin); err != nil {
			t.Fatalf("the server's own CA: %v", err)
		}
		line := Command(s.URL, served, "C", "I", s.pin)
		check, _, found := strings.Cut(line, " && curl -fsSL --cacert")
		if !found {
			t.Fatalf("no second fetch in %s", line)
		}
		out, err := exec.Command("sh", "-c", check+` && cat "$f"`).CombinedOutput()
		if (err == nil) != c.pass {
			t.Errorf("%s: err=%v\n%s", c.name, err, out)
		}
		if c.pass {
			if !bytes.Equal(out, served) {
				t.Errorf("%s: the CA fetched:\n%s", c.name, out)
			}
		} else if !strings.Contains(string(out), c.reason) {
			t.Errorf("%s: %s", c.name, out)
		}
	}
	s := newServer(t, "")
	if err := CheckCA(withOther(s.caPEM), s.pin); err == nil || !strings.Contains(err.Error(), "not one PEM certificate and nothing else") {
		t.Errorf("CheckCA of a tampered file: %v", err)
	}
	if err := CheckCA(other.CertPEM, s.pin); err == nil || !strings.Contains(err.Error(), "not the activation's") {
		t.Errorf("CheckCA of another CA: %v", err)
	}
}

// TestTamperedCA: the script takes a CA file only if it is one
// certificate and nothing else (GNU base64 decodes up to the first bad
// character: the real CA, then junk, then another CA would hash as the
// pin, and curl would trust both).
func TestTamperedCA(t *testing.T) {
	other, err := pki.LoadOrCreateCA(t.TempDir(), "another CA")
	if err != nil {
		t.Fatal(err)
	}
	s := newServerServing(t, t.TempDir(), func(real []byte) []byte {
		return append(append(append([]byte(nil), real...), "!\n"...), other.CertPEM...)
	})
	root := t.TempDir()
	out, ok := s.run(t, "--code", "C", "--id", "I", "--ca-pin", s.pin, "--root", root)
	if ok || !strings.Contains(out, "is not one PEM certificate and nothing else") {
		t.Errorf("ok=%v:\n%s", ok, out)
	}
	empty(t, root)
}

// TestWindowsCommand: the PowerShell command fetches install.ps1, checks
// it by the SHA-256 of the script it was given, and runs it with the
// activation, every value quoted for PowerShell; Offers tells the kinds
// of node apart.
func TestWindowsCommand(t *testing.T) {
	script := []byte("param([string]$Code)\n")
	got := WindowsCommand("https://h:1/", script, "c'1", "id", "sha256:00")
	want := `$s = "$env:TEMP\postern-install.ps1"; curl.exe -fsSk -o $s 'https://h:1/install.ps1'; if ((Get-FileHash -Algorithm SHA256 $s).Hash -ne '` + sum(string(script)) +
		`') { throw 'install.ps1 is not the script the server showed postern activations create: nothing was installed' }; & ([scriptblock]::Create([IO.File]::ReadAllText($s))) -Server 'https://h:1' -Code 'c''1' -Id 'id' -CaPin 'sha256:00'`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := WindowsCommand("https://h:1", script, "c", "i", ""); strings.Contains(got, "-CaPin") {
		t.Errorf("without a pin: %s", got)
	}
	if got, want := WindowsUpgradeCommand("https://h:1", script), strings.Replace(want, ` -Code 'c''1' -Id 'id' -CaPin 'sha256:00'`, " -Upgrade", 1); got != want {
		t.Errorf("upgrade: got\n%s\nwant\n%s", got, want)
	}
	if got := psQuote("a’b'c"); got != "'a’’b''c'" {
		t.Errorf("psQuote: %s", got)
	}
	sum := strings.Repeat("a", 64)
	for sums, want := range map[string][2]bool{
		"": {false, false},
		sum + "  postern-agent-1.0.0-darwin-arm64\n":      {true, false},
		sum + "  postern-agent-windows-amd64.exe\n":       {false, true},
		sum + "  postern-agent-windows-arm64.exe\n":       {false, false},
		sum + "  postern-1.0.0-linux-amd64\nnot a line\n": {false, false},
	} {
		if u, w := Offers(sums); u != want[0] || w != want[1] {
			t.Errorf("Offers(%q) = %v, %v; want %v", sums, u, w, want)
		}
	}
}

// TestScriptPS: install.ps1 holds the newest Windows build's name and
// SHA-256, and follows the builds: the command that checks it then
// refuses the old one. It is ASCII, the same for every caller (whatever
// Host they asked), and says when there is no Windows build.
func TestScriptPS(t *testing.T) {
	dir := t.TempDir()
	s := newServer(t, dir)
	writeExe(t, filepath.Join(dir, "postern-agent-1.0.0-linux-amd64"), "linux")
	writeExe(t, filepath.Join(dir, "postern-agent-1.0.0-windows-amd64.exe"), "windows 1")
	code, first := s.get(t, PathScriptPS)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", PathScriptPS, code, first)
	}
	vars := func(script string) (string, string) {
		m := regexp.MustCompile(`(?m)^\$build = '([^']*)'\n\$sha256 = '([^']*)'$`).FindStringSubmatch(script)
		if m == nil {
			t.Fatalf("no build in the script:\n%s", script)
		}
		return m[1], m[2]
	}
	if b, h := vars(first); b != "postern-agent-1.0.0-windows-amd64.exe" || h != sum("windows 1") {
		t.Errorf("the script names %q %q", b, h)
	}
	for i, r := range first {
		if r > 0x7e || (r < 0x20 && r != '\n') {
			t.Fatalf("not ASCII at byte %d: %q", i, r)
		}
	}
	if !strings.Contains(first, "& curl.exe -fsSk -o $exe ($Server.TrimEnd('/') + '/install/agent/' + $build)") {
		t.Errorf("the script downloads from elsewhere:\n%s", first)
	}
	req, _ := http.NewRequest("GET", s.URL+PathScriptPS, nil)
	req.Host = "another.example:9"
	res, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(again) != first {
		t.Error("the script differs by the Host asked")
	}

	newer := filepath.Join(dir, "postern-agent-1.1.0-windows-amd64.exe")
	writeExe(t, newer, "windows 2")
	later := time.Now().Add(time.Minute)
	os.Chtimes(newer, later, later)
	_, second := s.get(t, PathScriptPS)
	if b, h := vars(second); b != "postern-agent-1.1.0-windows-amd64.exe" || h != sum("windows 2") {
		t.Errorf("after a new build, the script names %q %q", b, h)
	}
	if WindowsCommand(s.URL, []byte(first), "c", "i", "") == WindowsCommand(s.URL, []byte(second), "c", "i", "") {
		t.Error("a command printed before the new build would take the new script")
	}

	_, none := newServer(t, "").get(t, PathScriptPS)
	if b, h := vars(none); b != "" || h != "" || !strings.Contains(none, "this server offers no Windows agent build") {
		t.Errorf("without downloads: %q %q", b, h)
	}
}

// TestPowerShellSyntax: install.ps1 as served (with a build and without)
// and the printed commands parse as PowerShell, by tree-sitter's grammar
// (testdata/pssyntax.mjs; no PowerShell runs here), and the same check
// refuses the script with a brace gone.
func TestPowerShellSyntax(t *testing.T) {
	modules, _ := filepath.Abs(filepath.Join("..", "web", "node_modules"))
	_, nodeErr := exec.LookPath("node")
	if _, err := os.Stat(filepath.Join(modules, "tree-sitter-powershell", "tree-sitter-powershell.wasm")); err != nil || nodeErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node and web/node_modules are needed (scripts/install-test-deps)")
		}
		t.Skip("no node or web/node_modules (npm ci --prefix web)")
	}
	dir := t.TempDir()
	writeExe(t, filepath.Join(dir, "postern-agent-1.0.0-windows-amd64.exe"), "windows")
	s := newServer(t, dir)
	_, withBuild := s.get(t, PathScriptPS)
	_, without := newServer(t, "").get(t, PathScriptPS)
	files := map[string]string{
		"served.ps1":      withBuild,
		"no-build.ps1":    without,
		"command.ps1":     WindowsCommand(s.URL, []byte(withBuild), "c'o\u2019de", "id-1", "sha256:"+strings.Repeat("ab", 32)) + "\n",
		"command-pin.ps1": WindowsCommand("https://h:1", []byte(without), "code", "id", "") + "\n",
		"upgrade.ps1":     WindowsUpgradeCommand(s.URL, []byte(withBuild)) + "\n",
	}
	check := func(names ...string) (string, error) {
		// Liftoff only: V8 otherwise compiles the grammar's WebAssembly
		// again, optimized, and waits seconds for it at exit.
		args := []string{"--liftoff-only", filepath.Join("testdata", "pssyntax.mjs"), modules}
		for _, n := range names {
			p := filepath.Join(t.TempDir(), n)
			if err := os.WriteFile(p, []byte(files[n]), 0o644); err != nil {
				t.Fatal(err)
			}
			args = append(args, p)
		}
		out, err := exec.Command("node", args...).CombinedOutput()
		return string(out), err
	}
	if out, err := check("served.ps1", "no-build.ps1", "command.ps1", "command-pin.ps1", "upgrade.ps1"); err != nil {
		t.Errorf("%v\n%s", err, out)
	}
	files["broken.ps1"] = strings.Replace(withBuild, "if ($Upgrade) {", "if ($Upgrade) ", 1)
	if out, err := check("broken.ps1"); err == nil || !strings.Contains(out, "broken.ps1:") {
		t.Errorf("a script with a brace gone parsed: %v\n%s", err, out)
	}
}
