// Package web serves Postern's web console: a single-page app built from
// web/src by esbuild (see README.md) and embedded, built, in dist/, so the
// binary carries it and a fresh clone runs with `go run`.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/postern/postern/lazyregexp"
)

//go:embed dist
var embedded embed.FS

// dist is the built console.
var dist = func() fs.FS {
	f, err := fs.Sub(embedded, "dist")
	if err != nil {
		panic(err)
	}
	return f
}()

// Handler serves the console. Mount it at "/" after the API's routes: it
// answers GET and HEAD; assets under /assets/ (whose names carry their
// content's hash) are cached for a year, and any other path that is not
// the API's gets index.html, which the browser re-checks every time. A
// path under /v1/ that reached it is an unknown API route: 404 in the
// API's JSON.
func Handler() http.Handler { return handler{} }

type handler struct{}

// Content-Security-Policy, for the console's pages:
//   - scripts only from the server; 'wasm-unsafe-eval' because the
//     recording player's terminal emulator is WebAssembly;
//   - styles from the server, and inline because xterm.js and the player
//     set style attributes and <style> elements at run time;
//   - images from the server and data: URLs (small icons in the CSS);
//   - connections to the server itself, including its WebSockets
//     (wss://host is spelled out for browsers whose 'self' does not cover
//     it);
//   - never framed (clickjacking), no plugins, no <base> rewriting, forms
//     post only to the server.
const cspTemplate = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'%s; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// hostRE is what a Host header may be to be named in the policy.
var hostRE = lazyregexp.New(`^[A-Za-z0-9.\-\[\]:]+$`)

func csp(host string) string {
	ws := ""
	if host != "" && hostRE.MatchString(host) {
		ws = " wss://" + host
	}
	return strings.Replace(cspTemplate, "%s", ws, 1)
}

func (handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", csp(r.Host))
	p := r.URL.Path
	if p == "/v1" || strings.HasPrefix(p, "/v1/") {
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		route := r.Method + " " + p
		if len(route) > 256 {
			route = strings.ToValidUTF8(route[:256], "") + "…" // never echo a megabyte
		}
		w.Write([]byte(`{"code":"NotFound","message":"no such API route: ` + jsonEscape(route) + `"}` + "\n"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		w.Write([]byte(`{"code":"MethodNotAllowed","message":"the console's pages are read with GET"}` + "\n"))
		return
	}
	name := strings.TrimPrefix(path.Clean(p), "/")
	f, ok := load(name)
	switch {
	case ok && strings.HasPrefix(name, "assets/"):
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	case ok && name != "index.html":
		h.Set("Cache-Control", "no-cache")
	case strings.HasPrefix(name, "assets/"):
		// A missing asset is a 404, not the app: a page that names it
		// would otherwise load HTML as a script.
		h.Set("Cache-Control", "no-store")
		http.Error(w, "no such asset", http.StatusNotFound)
		return
	default:
		// The app, for / and any route of its own.
		f, _ = load("index.html")
		h.Set("Cache-Control", "no-cache")
	}
	f.serve(w, r)
}

// file is one embedded file, with its gzip encoding made on first use.
type file struct {
	name  string
	data  []byte
	ctype string
	etag  string // of data: a browser revalidates index.html with it
	once  sync.Once
	gz    []byte
}

var (
	filesMu sync.Mutex
	files   = map[string]*file{}
)

func load(name string) (*file, bool) {
	if name == "" || name == "." {
		name = "index.html"
	}
	filesMu.Lock()
	defer filesMu.Unlock()
	if f, ok := files[name]; ok {
		return f, true
	}
	data, err := fs.ReadFile(dist, name)
	if err != nil {
		return nil, false
	}
	sum := sha256.Sum256(data)
	f := &file{name: name, data: data, ctype: contentType(name), etag: hex.EncodeToString(sum[:12])}
	files[name] = f
	return f, true
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".txt", ".sha256":
		return "text/plain; charset=utf-8"
	case ".woff2":
		return "font/woff2"
	case ".png":
		return "image/png"
	case ".wasm":
		return "application/wasm"
	}
	return "application/octet-stream"
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || ctype == "image/svg+xml" || ctype == "application/wasm"
}

func (f *file) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	body := f.data
	etag := f.etag
	if compressible(f.ctype) && len(f.data) > 1024 {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			f.once.Do(func() {
				var b bytes.Buffer
				zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
				zw.Write(f.data)
				zw.Close()
				f.gz = b.Bytes()
			})
			h.Set("Content-Encoding", "gzip")
			body = f.gz
			etag += "-gz"
		}
	}
	h.Set("ETag", `"`+etag+`"`)
	// ServeContent answers ranges and conditional requests (If-None-Match);
	// it sniffs nothing since Content-Type is set.
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(body))
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0" {
			return true
		}
	}
	return false
}

func jsonEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&15])
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}
