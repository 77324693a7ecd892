package e2e

import (
	"strings"
	"testing"
)

// TestCompletionOffersWhatTheServerHas: shell completion offers node
// names, session ids and log groups from the server (issue 17, item 8).
func TestCompletionOffersWhatTheServerHas(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)
	node := hostname(t)
	e.mustRun(ctx, "exec", node, "--", "true")
	id := e.sessions(ctx)[0].ID
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "connect", ""}, node},
		{[]string{"__complete", "exec", node[:1]}, node},
		{[]string{"__complete", "logs", "get", ""}, id},
		{[]string{"__complete", "sessions", "--target", ""}, node},
		{[]string{"__complete", "logs", "tail", "--group", ""}, "/postern/audit"},
	} {
		out := e.mustRun(ctx, tt.args...)
		if !strings.Contains(out, tt.want) {
			t.Errorf("postern %s: %q; want it to offer %s", strings.Join(tt.args, " "), out, tt.want)
		}
	}
	// Past the first argument, nothing is fetched (and no file names).
	if out := e.mustRun(ctx, "__complete", "logs", "get", id, ""); strings.Contains(out, id) {
		t.Errorf("second argument offered %q", out)
	}
}
