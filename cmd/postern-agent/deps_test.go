package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/postern/postern/"

// agentSide is every Postern package a node may run: the agent, what it
// speaks (wire, api, pki), the shells it starts, and the command line. A
// package that is not here is server-side (the server, its store, log
// store, authorization and authentication, the web console, delivery to S3
// and CloudWatch Logs, the key service, single sign-on, audit, log queries,
// session documents, the API client...): the agent must not link it.
var agentSide = []string{
	"agent", "agentcli", "api", "cli", "cmd/postern-agent", "lazyregexp", "logger", "pki", "shell", "wire",
}

// agentModules are the modules outside the standard library the agent may
// link: the transport, the terminal, the command line.
var agentModules = []string{
	"github.com/coder/websocket", "github.com/creack/pty", "github.com/hashicorp/yamux",
	"github.com/inconshreveable/mousetrap", "github.com/spf13/cobra", "github.com/spf13/pflag",
	"golang.org/x/sys",
}

// TestAgentLinksNoServerCode lists what postern-agent and the agent package
// link, on every system the agent builds for, and fails naming any
// server-side package and how it got in.
func TestAgentLinksNoServerCode(t *testing.T) {
	for _, goos := range []string{"linux", "darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			imports := goListDeps(t, goos, module+"cmd/postern-agent", module+"agent", module+"agentcli")
			for _, bad := range notAgentSide(imports) {
				t.Errorf("the agent links %s, which is not agent-side: %s", bad, strings.Join(importPath(imports, module+"cmd/postern-agent", bad), " -> "))
			}
		})
	}
}

// The check itself finds server code where there is some: postern links
// the server.
func TestServerSideIsNoticed(t *testing.T) {
	bad := notAgentSide(goListDeps(t, "linux", module+"cmd/postern"))
	for _, want := range []string{"server", "store", "logstore", "authz", "authn", "web", "client", "document", "github.com/aws/aws-sdk-go-v2"} {
		if !slices.ContainsFunc(bad, func(p string) bool { return p == module+want || p == want || strings.HasPrefix(p, want+"/") }) {
			t.Errorf("%s is not reported for cmd/postern; reported: %v", want, bad)
		}
	}
}

// notAgentSide returns the packages in imports the agent may not link.
func notAgentSide(imports map[string][]string) []string {
	var bad []string
	for p := range imports {
		if rest, ok := strings.CutPrefix(p, module); ok {
			if !slices.Contains(agentSide, rest) {
				bad = append(bad, p)
			}
			continue
		}
		first, _, _ := strings.Cut(p, "/")
		if !strings.Contains(first, ".") || p == strings.TrimSuffix(module, "/") {
			continue // the standard library
		}
		if !slices.ContainsFunc(agentModules, func(m string) bool { return p == m || strings.HasPrefix(p, m+"/") }) {
			bad = append(bad, p)
		}
	}
	slices.Sort(bad)
	return bad
}

// goListDeps returns, for every package pkgs depend on when built for
// goos, the packages it imports.
func goListDeps(t *testing.T, goos string, pkgs ...string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}"}, pkgs...)...)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %v for %s: %v", pkgs, goos, err)
	}
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		imports[f[0]] = f[1:]
	}
	for _, p := range pkgs {
		if _, ok := imports[p]; !ok {
			t.Fatalf("go list -deps %v: %s is not in its own output", pkgs, p)
		}
	}
	return imports
}

// importPath is a shortest chain of imports from one package to another.
func importPath(imports map[string][]string, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var path []string
			for ; p != ""; p = prev[p] {
				path = append(path, p)
			}
			slices.Reverse(path)
			return path
		}
		for _, q := range imports[p] {
			if _, seen := prev[q]; !seen {
				prev[q] = p
				queue = append(queue, q)
			}
		}
	}
	return []string{"(not imported from " + from + ")"}
}
