package web

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// sourceFiles lists what the bundle is built from, as build.mjs does.
func sourceFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"build.mjs", "package.json", "package-lock.json"}
	err := filepath.WalkDir("src", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, filepath.ToSlash(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// TestDistIsFresh fails when web/src, the packages or the build script
// changed since dist/ was built: the embedded console would not be what
// the sources say. It needs no npm: build.mjs records the sources' hashes
// in dist/SOURCE.sha256 and this recomputes them.
func TestDistIsFresh(t *testing.T) {
	recorded, err := os.ReadFile("dist/SOURCE.sha256")
	if err != nil {
		t.Fatalf("dist/SOURCE.sha256: %v (build the console: cd web && npm ci && npm run build)", err)
	}
	want := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(recorded)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("dist/SOURCE.sha256: malformed line %q", line)
		}
		want[name] = sum
	}
	var stale []string
	for _, name := range sourceFiles(t) {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.ReplaceAll(string(b), "\r\n", "\n"))
		sum := sha256.Sum256(b)
		switch w, ok := want[name]; {
		case !ok:
			stale = append(stale, name+" (new since the build)")
		case w != hex.EncodeToString(sum[:]):
			stale = append(stale, name+" (changed)")
		}
		delete(want, name)
	}
	for name := range want {
		stale = append(stale, name+" (gone since the build)")
	}
	if len(stale) > 0 {
		sort.Strings(stale)
		t.Fatalf("web/dist is stale; rebuild it with `cd web && npm ci && npm run build` and commit dist/:\n  %s", strings.Join(stale, "\n  "))
	}
}

// TestIndexNamesItsAssets checks that the built index.html loads assets
// that are in dist/.
func TestIndexNamesItsAssets(t *testing.T) {
	index, err := fs.ReadFile(dist, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:src|href)="/(assets/[^"]+)"`).FindAllStringSubmatch(string(index), -1)
	if len(refs) < 3 {
		t.Fatalf("index.html names %d assets, want a script, a stylesheet and an icon:\n%s", len(refs), index)
	}
	for _, m := range refs {
		if _, err := fs.Stat(dist, m[1]); err != nil {
			t.Errorf("index.html names %s: %v", m[1], err)
		}
	}
}

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	r.Host = "postern.example:8443"
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	var rd io.Reader = res.Body
	if res.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		rd = zr
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandler(t *testing.T) {
	h := Handler()
	index, _ := fs.ReadFile(dist, "index.html")
	js := regexp.MustCompile(`src="(/assets/[^"]+\.js)"`).FindStringSubmatch(string(index))[1]

	t.Run("index and SPA fallback", func(t *testing.T) {
		for _, p := range []string{"/", "/index.html", "/sessions/alice-0123", "/some/deep/route?x=1"} {
			res := get(t, h, "GET", p, nil)
			if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("GET %s: %d %s", p, res.StatusCode, res.Header.Get("Content-Type"))
			}
			if b := body(t, res); b != string(index) {
				t.Fatalf("GET %s: not index.html:\n%s", p, b)
			}
			if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("GET %s: Cache-Control %q, want no-cache", p, cc)
			}
		}
	})

	t.Run("security headers", func(t *testing.T) {
		res := get(t, h, "GET", "/", nil)
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "connect-src 'self' wss://postern.example:8443", "object-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-eval'") && !strings.Contains(csp, "wasm-unsafe-eval") {
			t.Errorf("CSP allows eval: %q", csp)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Error("no X-Content-Type-Options: nosniff")
		}
		// A forged Host cannot inject into the policy.
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = "evil; script-src *"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if c := w.Result().Header.Get("Content-Security-Policy"); strings.Contains(c, "evil") || strings.Contains(c, "script-src *") {
			t.Errorf("Host header reached the CSP: %q", c)
		}
	})

	t.Run("hashed assets are cached long and compressed", func(t *testing.T) {
		res := get(t, h, "GET", js, map[string]string{"Accept-Encoding": "gzip, br"})
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d", js, res.StatusCode)
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") || !strings.Contains(cc, "immutable") {
			t.Errorf("Cache-Control %q", cc)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
			t.Errorf("Content-Type %q", ct)
		}
		if res.Header.Get("Content-Encoding") != "gzip" {
			t.Error("not gzipped for a client that accepts gzip")
		}
		want, _ := fs.ReadFile(dist, strings.TrimPrefix(js, "/"))
		if body(t, res) != string(want) {
			t.Error("gzipped body differs from the file")
		}
		plain := get(t, h, "GET", js, nil)
		if plain.Header.Get("Content-Encoding") != "" || body(t, plain) != string(want) {
			t.Error("plain body differs from the file")
		}
		etag := plain.Header.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		if res := get(t, h, "GET", js, map[string]string{"If-None-Match": etag}); res.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match: %d, want 304", res.StatusCode)
		}
	})

	t.Run("missing asset is 404, not the app", func(t *testing.T) {
		if res := get(t, h, "GET", "/assets/app-NOPE.js", nil); res.StatusCode != 404 {
			t.Errorf("missing asset: %d", res.StatusCode)
		}
	})

	t.Run("unknown API route is a JSON 404", func(t *testing.T) {
		res := get(t, h, "GET", `/v1/nope"<x>`, nil)
		if res.StatusCode != 404 || res.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		var e struct{ Code, Message string }
		if err := json.Unmarshal([]byte(body(t, res)), &e); err != nil || e.Code != "NotFound" {
			t.Fatalf("body %+v: %v", e, err)
		}
	})

	t.Run("only GET and HEAD", func(t *testing.T) {
		if res := get(t, h, "POST", "/", nil); res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST /: %d", res.StatusCode)
		}
		res := get(t, h, "HEAD", "/", nil)
		if res.StatusCode != 200 || body(t, res) != "" {
			t.Errorf("HEAD /: %d", res.StatusCode)
		}
	})

	t.Run("no way out of dist", func(t *testing.T) {
		for _, p := range []string{"/../web.go", "/assets/../../web.go", "/%2e%2e/web.go"} {
			res := get(t, h, "GET", p, nil)
			if b := body(t, res); strings.Contains(b, "package web") {
				t.Errorf("GET %s served a file outside dist", p)
			}
		}
	})
}

// TestScripts runs the console's own unit tests (test/*.test.mjs, with
// Node's test runner): the parts of the console with logic of their own,
// such as the desktop player's retiming of a recording. It skips without
// node or the npm packages (npm ci), unless POSTERN_REQUIRE_CHROMIUM says
// the browser tests' tools must be there.
func TestScripts(t *testing.T) {
	skip := func(why string) {
		t.Helper()
		if os.Getenv("POSTERN_REQUIRE_CHROMIUM") != "" {
			t.Fatalf("%s; POSTERN_REQUIRE_CHROMIUM is set", why)
		}
		t.Skip(why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("node is missing")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "guacamole-common-js", "package.json")); err != nil {
		skip("node_modules is missing (npm ci)")
	}
	cmd := exec.Command(node, "--test", "test/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test test/: %v\n%s", err, out)
	}
}
