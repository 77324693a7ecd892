// Package nodeinstall is the one-line node install a Postern server
// offers: the script at /install.sh (POSIX sh, for Linux and macOS), the
// server's CA for the script's first contact (which the script checks
// against the activation's pin before it trusts anything), the script at
// /install.ps1 (PowerShell, for Windows: it holds the SHA-256 of the
// Windows build, and the command that runs it holds the script's), and
// the postern-agent builds the scripts download, from a directory of
// release binaries, each listed with its SHA-256.
//
// Everything here is public and read-only: what an unauthenticated caller
// can make the server do is read a file the operator put in the downloads
// directory, and hash it once per change.
package nodeinstall

import (
	"bytes"
	"crypto/sha256"
	_ "embed" // the script
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/lazyregexp"
	"github.com/postern/postern/packaging"
)

// What the handler serves.
const (
	PathScript   = "/install.sh"
	PathScriptPS = api.PathInstallScriptPS
	PathCA       = api.PathInstallCA
	// PathAgent is followed by SumsFile, or a file SumsFile lists.
	PathAgent = api.PathAgentDownloads
	SumsFile  = "SHA256SUMS"
)

//go:embed install.sh
var script string

//go:embed install.ps1
var scriptPS string

// scriptTemplate is parsed at the first request, not at init.
var scriptTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("install.sh").Funcs(template.FuncMap{"quote": shellQuote}).Parse(
		strings.Replace(script, "server={{.Server}}", "server={{quote .Server}}", 1)))
})

// scriptPSTemplate is parsed at the first request, not at init.
var scriptPSTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("install.ps1").Funcs(template.FuncMap{"quote": psQuote}).Parse(scriptPS))
})

// agentName is how releases name the agent: postern-agent-VERSION-OS-ARCH
// (scripts/release), or without the version.
var agentName = lazyregexp.New(`^postern-agent-(?:[A-Za-z0-9._+-]+-)?(linux|darwin|windows)-(amd64|arm64)(\.exe)?$`)

// Handler serves the install script, the CA and the agent downloads.
type Handler struct {
	// Downloads is a directory of postern-agent builds, named as releases
	// name them. Empty: none are offered (the script says how to offer
	// them).
	Downloads string
	// CAPEM is the server's CA certificate.
	CAPEM []byte

	mu sync.Mutex // guards sums
	// sums holds the files' checksums, each for the size and modification
	// time the file had when it was hashed: a file replaced is hashed
	// again. Only files in the listing are kept.
	sums map[string]fileSum
}

type fileSum struct {
	size int64
	mod  time.Time
	sum  string
}

// Script serves the install script, its default server the address it
// was fetched at.
func (h *Handler) Script(w http.ResponseWriter, r *http.Request) {
	serveScript(w, scriptTemplate(), "text/x-shellscript; charset=utf-8", struct{ Server, Unit, Launchd string }{
		Server:  serverURL(r.Host),
		Unit:    withNewline(packaging.AgentUnit),
		Launchd: withNewline(packaging.AgentLaunchd),
	})
}

// serveScript serves t, executed with data, as contentType, never cached.
func serveScript(w http.ResponseWriter, t *template.Template, contentType string, data any) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		http.Error(w, t.Name()+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(b.Bytes())
}

// ScriptPS serves the Windows install script, with the newest Windows
// build's name and SHA-256 (none: the script says so when run). It is the
// same for every caller until the builds change: the command that runs it
// checks its SHA-256.
func (h *Handler) ScriptPS(w http.ResponseWriter, r *http.Request) {
	var file, sum string
	if h.Downloads != "" {
		list, err := h.listing()
		if err != nil {
			http.Error(w, "agent downloads: "+err.Error(), http.StatusInternalServerError)
			return
		}
		for _, e := range list {
			if e.os == "windows" && e.arch == "amd64" {
				file, sum = e.name, e.sum
			}
		}
	}
	serveScript(w, scriptPSTemplate(), "text/plain; charset=utf-8", struct{ File, SHA256, AgentPath string }{File: file, SHA256: sum, AgentPath: PathAgent})
}

// CA serves the server's CA certificate, PEM. It is public: every TLS
// handshake sends it too.
func (h *Handler) CA(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(h.CAPEM)
}

// Agent serves PathAgent+name: the checksum list, or a build it lists.
func (h *Handler) Agent(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, PathAgent)
	if h.Downloads == "" {
		http.Error(w, "this server offers no agent downloads: set agentDownloads in its configuration to a directory of postern-agent release builds", http.StatusNotFound)
		return
	}
	list, err := h.listing()
	if err != nil {
		http.Error(w, "agent downloads: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if name == SumsFile {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		for _, e := range list {
			fmt.Fprintf(w, "%s  %s\n", e.sum, e.name)
		}
		return
	}
	for _, e := range list {
		if e.name != name {
			continue
		}
		f, err := os.Open(filepath.Join(h.Downloads, name))
		if err != nil {
			http.Error(w, "agent downloads: "+err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("X-Checksum-Sha256", e.sum)
		http.ServeContent(w, r, name, e.mod, f)
		return
	}
	http.Error(w, fmt.Sprintf("%q is not one of this server's agent downloads (see %s%s)", name, PathAgent, SumsFile), http.StatusNotFound)
}

type entry struct {
	name, os, arch string
	mod            time.Time
	sum            string
}

// listing returns the builds offered, the newest file for each platform,
// sorted by name, with their checksums.
func (h *Handler) listing() ([]entry, error) {
	des, err := os.ReadDir(h.Downloads)
	if err != nil {
		return nil, err
	}
	newest := map[string]entry{} // by os/arch
	sizes := map[string]int64{}
	for _, de := range des {
		m := agentName.FindStringSubmatch(de.Name())
		if m == nil {
			continue
		}
		fi, err := os.Stat(filepath.Join(h.Downloads, de.Name())) // a link to a build counts
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		e := entry{name: de.Name(), os: m[1], arch: m[2], mod: fi.ModTime()}
		key := m[1] + "/" + m[2] + m[3]
		if old, ok := newest[key]; ok && (old.mod.After(e.mod) || (old.mod.Equal(e.mod) && old.name > e.name)) {
			continue
		}
		newest[key] = e
		sizes[e.name] = fi.Size()
	}
	list := make([]entry, 0, len(newest))
	for _, e := range newest {
		list = append(list, e)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })

	h.mu.Lock()
	defer h.mu.Unlock()
	sums := make(map[string]fileSum, len(list))
	for i, e := range list {
		s, ok := h.sums[e.name]
		if !ok || s.size != sizes[e.name] || !s.mod.Equal(e.mod) {
			sum, err := fileSHA256(filepath.Join(h.Downloads, e.name))
			if err != nil {
				return nil, err
			}
			s = fileSum{size: sizes[e.name], mod: e.mod, sum: sum}
		}
		sums[e.name] = s
		list[i].sum = s.sum
	}
	h.sums = sums
	return list, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	d := sha256.New()
	if _, err := io.Copy(d, f); err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return hex.EncodeToString(d.Sum(nil)), nil
}

// serverURL is the https URL of host (a request's Host), or "" when it is
// not a plain host name or address with an optional port: the script then
// asks for --server rather than carry something odd into a shell.
func serverURL(host string) string {
	if host == "" || len(host) > 260 {
		return ""
	}
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = host, ""
	}
	if err != nil && strings.Contains(host, ":") {
		return "" // an IPv6 address needs brackets
	}
	if port != "" && !portNumber.MatchString(port) {
		return ""
	}
	if net.ParseIP(name) == nil && !hostName.MatchString(name) {
		return ""
	}
	return "https://" + host
}

var (
	hostName   = lazyregexp.New(`^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$`)
	portNumber = lazyregexp.New(`^[0-9]{1,5}$`)
)

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func withNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// Command is the command that installs a node with an activation from
// server (https://HOST:PORT), for sh, bash or zsh on Linux and macOS.
// With a pin (the server's certificate is issued by its own CA), it first
// fetches the CA (caPEM is what the server serves at PathCA, which the
// caller read over a connection it trusts and checked with CheckCA),
// checks the file's SHA-256, and trusts only it from then on, the install
// script included: nothing from the server runs before its CA matched,
// and what curl trusts is exactly what was checked. Without a pin, the
// server's certificate must be one the node's system trusts.
func Command(server string, caPEM []byte, code, id, pin string) string {
	return command(server, caPEM, "--code "+shellWord(code)+" --id "+shellWord(id), pin)
}

// UpgradeCommand is the command that upgrades a node installed by
// Command to the server's newest build, as Command fetches the script.
func UpgradeCommand(server string, caPEM []byte, pin string) string {
	return command(server, caPEM, "--upgrade", pin)
}

func command(server string, caPEM []byte, args, pin string) string {
	server = strings.TrimRight(server, "/")
	if pin == "" {
		return "curl -fsSL " + shellWord(server+PathScript) + " | sudo sh -s -- " + args
	}
	sum := sha256.Sum256(caPEM)
	return `f=$(mktemp) && curl -fsSk ` + shellWord(server+PathCA) + ` -o "$f" && ` +
		`{ [ "$( (sha256sum "$f" 2>/dev/null || shasum -a 256 "$f") | cut -c1-64)" = ` + hex.EncodeToString(sum[:]) +
		` ] || ! echo ` + shellQuote("the server CA is not the one the activation pins ("+pin+")") + ` >&2; } && ` +
		`curl -fsSL --cacert "$f" ` + shellWord(server+PathScript) + " | sudo sh -s -- " + args + " --ca-pin " + shellWord(pin)
}

// CheckCA checks that caPEM, as served at PathCA, is one PEM certificate
// and nothing else, whose fingerprint is pin.
func CheckCA(caPEM []byte, pin string) error {
	got, err := CAPin(caPEM)
	if err != nil {
		return err
	}
	if got != pin {
		return fmt.Errorf("the server's CA is %s, not the activation's %s", got, pin)
	}
	return nil
}

// CAPin is the pin (sha256:HEX of the certificate) of caPEM, as served at
// PathCA: one PEM certificate and nothing else.
func CAPin(caPEM []byte) (string, error) {
	block, rest := pem.Decode(caPEM)
	if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 || !bytes.Equal(pem.EncodeToMemory(block), caPEM) {
		return "", errors.New("the server's CA is not one PEM certificate and nothing else")
	}
	sum := sha256.Sum256(block.Bytes)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// shellWord is s as one shell word: as it is when nothing in it is
// special, quoted otherwise.
func shellWord(s string) string {
	if plainWord.MatchString(s) {
		return s
	}
	return shellQuote(s)
}

var plainWord = lazyregexp.New(`^[A-Za-z0-9._:/@%+=,-]+$`) // no glob or expansion

// Offers reports which kinds of node sums (SHA256SUMS lines, as the
// server serves them) has agent builds for: Linux or macOS, and Windows
// (amd64, the one install.ps1 installs).
func Offers(sums string) (unix, windows bool) {
	for _, line := range strings.Split(sums, "\n") {
		_, name, ok := strings.Cut(line, "  ")
		m := agentName.FindStringSubmatch(name)
		if !ok || m == nil {
			continue
		}
		if m[1] == "windows" {
			windows = windows || m[2] == "amd64"
		} else {
			unix = true
		}
	}
	return unix, windows
}

// WindowsCommand is the PowerShell command (as an administrator) that
// installs a Windows node: it downloads install.ps1 from server, checks it
// against the SHA-256 of script (the script as the server serves it,
// which the one who prints the command read over their own trusted
// connection), and runs it with the activation. The script checks the
// agent build it downloads against the SHA-256 it holds, and the build
// registers with the pin and installs its service. The downloads
// themselves need not be trusted (curl.exe -k): nothing runs before its
// checksum matched. The script runs as a script block, which the
// execution policy (Restricted on Windows clients) does not stop, as it
// would the file.
func WindowsCommand(server string, script []byte, code, id, pin string) string {
	args := " -Code " + psQuote(code) + " -Id " + psQuote(id)
	if pin != "" {
		args += " -CaPin " + psQuote(pin)
	}
	return windowsCommand(server, script, args)
}

// WindowsUpgradeCommand is the command that upgrades a Windows node
// installed by WindowsCommand to the build script (install.ps1 as the
// server serves it) names; printed anew once the server's build changed.
func WindowsUpgradeCommand(server string, script []byte) string {
	return windowsCommand(server, script, " -Upgrade")
}

func windowsCommand(server string, script []byte, args string) string {
	server = strings.TrimRight(server, "/")
	sum := sha256.Sum256(script)
	args = " -Server " + psQuote(server) + args
	return `$s = "$env:TEMP\postern-install.ps1"; curl.exe -fsSk -o $s ` + psQuote(server+PathScriptPS) +
		`; if ((Get-FileHash -Algorithm SHA256 $s).Hash -ne ` + psQuote(hex.EncodeToString(sum[:])) +
		`) { throw 'install.ps1 is not the script the server showed postern activations create: nothing was installed' }; & ([scriptblock]::Create([IO.File]::ReadAllText($s)))` + args
}

// psQuote quotes s for PowerShell: single quotes, each of the characters
// PowerShell takes for one (' and the typographic ‘ ’ ‚ ‛) doubled inside.
func psQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		b.WriteRune(r)
		switch r {
		case '\'', '\u2018', '\u2019', '\u201a', '\u201b':
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
