package main

import (
	"strings"
	"testing"
)

// TestCompletionsAttached: every command that takes a node, a session, a
// document or a log group completes it; a renamed command fails here
// rather than losing its completion quietly.
func TestCompletionsAttached(t *testing.T) {
	root := newRoot()
	for _, path := range []string{"connect", "exec", "forward", "proxy", "sessions show", "sessions watch", "terminate",
		"logs get", "logs play", "logs delete", "documents show", "documents delete", "logs streams", "logs events", "logs groups delete"} {
		cmd, _, err := root.Find(strings.Fields(path))
		if err != nil || cmd.CommandPath() != "postern "+path {
			t.Errorf("%s: no such command (%v)", path, err)
			continue
		}
		if cmd.ValidArgsFunction == nil {
			t.Errorf("%s: no completion of its argument", path)
		}
	}
	for path, flag := range map[string]string{"sessions": "target", "logs tail": "group", "logs query": "group"} {
		cmd, _, err := root.Find(strings.Fields(path))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := cmd.GetFlagCompletionFunc(flag); !ok {
			t.Errorf("%s --%s: no completion", path, flag)
		}
	}
}
