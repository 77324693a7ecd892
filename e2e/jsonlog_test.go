package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestJSONLogs: postern server --log-format json writes every line as a
// JSON object, with its component apart, for log collectors (issue 17,
// item 6).
func TestJSONLogs(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dir := t.TempDir()
	srv := start(t, []string{"HOME=" + dir}, "server", "--data", filepath.Join(dir, "data"), "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--log-format", "json")
	srv.waitFor(ctx, regexp.MustCompile(`listening on https://`))
	out := srv.Output()
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q (%v)", l, err)
		}
		if m["msg"] == nil || m["time"] == nil {
			t.Fatalf("line without msg or time: %q", l)
		}
		if strings.HasPrefix(m["msg"].(string), "listening on https://") && m["component"] == "server" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("no {component: server, msg: listening on ...} line in:\n%s", out)
	}
}
