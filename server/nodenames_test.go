package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/api"
)

// TestNodeNamesCannotBeTakenOver: a second registration under a taken
// name gets a name of its own and is told so, a name reaches the node
// that has it, a hostname two nodes claim is an error listing both, and a
// node cannot register text that would drive an administrator's terminal
// (finding 5).
func TestNodeNamesCannotBeTakenOver(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	a := ts.activation(t, api.CreateActivationRequest{RegistrationLimit: 10})
	reg := func(name, hostname string, tags map[string]string) (agent.Identity, error) {
		return agent.Register(ctx, agent.RegisterOptions{Server: ts.url, Code: a.Code, ID: a.ID, CAPin: a.CAPin, Dir: t.TempDir(), Name: name, Tags: tags, Hostname: hostname})
	}
	vm, err := reg("vm", "host-a", nil)
	if err != nil {
		t.Fatal(err)
	}
	if vm.Name != "vm" || vm.Renamed != "" {
		t.Fatalf("first registration: name %q, renamed %q", vm.Name, vm.Renamed)
	}
	impostor, err := reg("vm", "vm", nil)
	if err != nil {
		t.Fatal(err)
	}
	if impostor.Name != "vm-2" || !strings.Contains(impostor.Renamed, "belongs to node "+vm.NodeID) {
		t.Fatalf("second registration as vm: name %q, renamed %q; want vm-2, saying who has vm", impostor.Name, impostor.Renamed)
	}
	// The impostor also claims the hostname vm: the name still wins
	// (neither runs an agent, so the session is refused, naming the node
	// the name resolved to).
	for range 3 {
		_, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: "vm", Command: []string{"true"}})
		if err == nil || !strings.Contains(err.Error(), vm.NodeID) {
			t.Fatalf("start on vm: %v; want it refused naming %s", err, vm.NodeID)
		}
	}
	// Two nodes claiming one hostname: ambiguous, naming both.
	other, err := reg("other", "host-a", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.admin.StartSession(ctx, api.StartSessionRequest{Target: "host-a", Command: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), vm.NodeID) || !strings.Contains(err.Error(), other.NodeID) {
		t.Fatalf("start on a hostname two nodes claim: %v; want an error naming both", err)
	}

	for _, bad := range []struct {
		name, hostname string
		tags           map[string]string
		want           string
	}{
		{"pwn\x1b]0;pwned\x07", "h", nil, "name holds the control character U+001B"},
		{"ok", "h\x1b[2J", nil, "hostname holds the control character"},
		{"ok", "h", map[string]string{"env": "prod\x1b[31m"}, `tag "env" holds the control character`},
		{"ok", "h", map[string]string{"\u202eenv": "x"}, "U+202E"},
		{strings.Repeat("n", 200), "h", nil, "name is 200 bytes long; at most 128"},
		{"mi-0123456789abcdef0", "h", nil, "node ids'"},
	} {
		if _, err := reg(bad.name, bad.hostname, bad.tags); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("register %q/%q/%v: %v; want an error containing %q", bad.name, bad.hostname, bad.tags, err, bad.want)
		}
	}
}
