package authz

import (
	"testing"
)

// FuzzParse: any policy text either parses into policies that evaluate
// without panicking, or is refused with an error; never both, never a
// crash. Seeds: the defaults, the system policies, and broken variants
// (testdata/fuzz/FuzzParse).
func FuzzParse(f *testing.F) {
	f.Add(DefaultPolicies)
	f.Add(systemPolicies)
	f.Add(`permit (principal, action, resource);`)
	f.Add(`forbid (principal == User::"x", action in [Action::"StartSession"], resource is Node) when { resource.hasTag("env") && resource.getTag("env") == "prod" };`)
	f.Fuzz(func(t *testing.T, text string) {
		ps, err := Parse("fuzz", text)
		if err != nil {
			if ps != nil {
				t.Fatalf("policies and an error: %v", err)
			}
			return
		}
		if len(ps) == 0 {
			t.Fatal("no policies and no error")
		}
		set, err := NewPolicySet([]Stored{{ID: "fuzz", Text: text}})
		if err != nil {
			return // e.g. an @id that collides with a system policy's
		}
		for _, a := range []Action{StartSession, QueryLogs, UpdateUser, ConnectAgent} {
			set.Decide(Request{
				Principal: User(home, "alice", []string{Operators}, "ops"),
				Action:    a,
				Resource:  Node(home, "mi-1", "web", map[string]string{"env": "dev"}),
				Context:   map[string]string{"document": "x"},
			})
		}
	})
}
