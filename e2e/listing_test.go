package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/postern/postern/api"
)

// listingArgs are the arguments of the listing commands that need some,
// by command path without "postern ".
var listingArgs = map[string][]string{
	"logs streams":              {"/postern/audit"},
	"logs query":                {"fields @timestamp, action | limit 3", "--group", "/postern/audit", "--since", "1h"},
	"org stacksets instances":   {"listing"},
	"org stacksets operations":  {"listing"},
	"delivery-streams describe": {"listing"},
}

// operations print what they did, account by account, as a table: they
// change things, so the listing test does not run them (TestStackSets
// does).
var operations = []string{"org stacksets deploy", "org stacksets remove", "org stacksets update"}

// TestListingsDefaultOutput runs every listing command, as the CLI's own
// help describes its command tree, with its default output (no -o): each
// must succeed and print a header and rows. A listing is a command whose
// -o defaults to a table, or one called ls; a new one is found here
// without being added to a list (unless it needs arguments).
func TestListingsDefaultOutput(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDevEnv(t, noAWS)

	// Something to list everywhere: a session, a command, a log group
	// with a metric filter, a token.
	e.mustRun(ctx, "exec", hostname(t), "--", "true")
	e.mustRun(ctx, "run", "--node-ids", hostname(t), "--parameters", "commands=true")
	e.mustRun(ctx, "logs", "groups", "create", "/listing")
	e.mustRun(ctx, "logs", "metric-filters", "put", "--group", "/listing", "--name", "all",
		"--pattern", "", "--metric-namespace", "Listing", "--metric-name", "Events")
	e.mustRun(ctx, "tokens", "create", "--name", "listing")
	e.mustRun(ctx, "access-keys", "create")
	e.mustRun(ctx, "org", "create")
	e.mustRun(ctx, "org", "create-unit", "Listing")
	template := filepath.Join(t.TempDir(), "listing.yaml")
	if err := os.WriteFile(template, []byte("Resources:\n  Group:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      LogGroupName: !Sub listing-${AWS::AccountId}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun(ctx, "org", "stacksets", "create", "listing", "--template", template)
	e.mustRun(ctx, "org", "stacksets", "deploy", "listing", "--targets", "000000000001")
	// A delivery stream to a webhook, a subscription filter sending to
	// it, and a rule.
	hook := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	t.Cleanup(hook.Close)
	secret := writeFile(t, "secret", strings.Repeat("l", 32))
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hook.Certificate().Raw})))
	e.mustRun(ctx, "delivery-streams", "create", "listing", "--destination", "HTTP", "--http-url", hook.URL, "--http-secret-file", secret, "--http-ca-file", ca)
	e.mustRun(ctx, "logs", "subscription-filters", "put", "--group", "/listing", "--name", "ship", "--destination", "prn:postern:firehose:000000000001:deliverystream/listing")
	targets, _ := json.Marshal([]api.RuleTarget{{ID: "hook", Webhook: &api.HTTPEndpoint{URL: hook.URL, Secret: strings.Repeat("l", 32), CAPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hook.Certificate().Raw})), Format: "json"}}})
	e.mustRun(ctx, "events", "rules", "put", "listing", "--pattern-file", writeFile(t, "pattern.json", `{"source": ["postern.nodes"]}`), "--targets-file", writeFile(t, "targets.json", string(targets)))

	listings := findListings(ctx, t)
	var names []string
	for _, l := range listings {
		names = append(names, strings.Join(l.path, " "))
	}
	t.Logf("listing commands: %s", strings.Join(names, "; "))
	for _, want := range []string{"nodes", "sessions", "activations ls", "users ls", "tokens ls", "policy ls", "documents ls",
		"keys ls", "logs groups ls", "logs streams", "logs metric-filters ls", "logs query", "audit query"} {
		if !slices.Contains(names, want) {
			t.Errorf("%q is not found among the listing commands in postern's help", want)
		}
	}

	for _, l := range listings {
		name := strings.Join(l.path, " ")
		if slices.Contains(operations, name) {
			continue
		}
		args, ok := listingArgs[name]
		if l.needsArgs && !ok {
			t.Errorf("postern %s takes arguments (%s): give it some in listingArgs", name, l.usage)
			continue
		}
		out, errOut, code := e.run(ctx, append(slices.Clone(l.path), args...)...)
		if code != 0 {
			t.Errorf("postern %s (default output): exit %d\nstdout: %s\nstderr: %s", name, code, out, errOut)
			continue
		}
		var lines []string
		for _, line := range strings.Split(out, "\n") {
			if strings.TrimSpace(line) != "" {
				lines = append(lines, line)
			}
		}
		// A header, then at least one row: every listing has something
		// to list here.
		if len(lines) < 2 || strings.Contains(lines[0], "{") {
			t.Errorf("postern %s (default output): want a header and rows, got:\n%s\nstderr: %s", name, out, errOut)
		}
	}
}

// listing is a command that lists things, as found in postern's help.
type listing struct {
	path      []string
	usage     string // its usage line
	needsArgs bool   // the usage names positional arguments
}

var (
	outputTableRE = regexp.MustCompile(`(?m)^\s+-o, --output string\s.*\(default "table"\)$`)
	bracketsRE    = regexp.MustCompile(`\[[^\]]*\]`)
)

// findListings walks postern's command tree through --help, four
// commands at a time (a tree of a hundred commands, each a race-built
// binary's start, takes minutes one at a time on a loaded machine).
func findListings(ctx context.Context, t *testing.T) []listing {
	t.Helper()
	var (
		mu    sync.Mutex // guards found and failed
		found []listing
		fail  error
		wg    sync.WaitGroup
		slots = make(chan struct{}, 4)
	)
	var walk func(path []string)
	walk = func(path []string) {
		defer wg.Done()
		slots <- struct{}{}
		out, err := exec.CommandContext(ctx, bin, append(slices.Clone(path), "--help")...).Output()
		<-slots
		if err != nil {
			mu.Lock()
			fail = errors.Join(fail, fmt.Errorf("postern %s --help: %w", strings.Join(path, " "), err))
			mu.Unlock()
			return
		}
		help := string(out)
		usage, subs := helpSections(help)
		prefix := strings.Join(append([]string{"postern"}, path...), " ")
		for _, u := range usage {
			if strings.HasSuffix(u, "[command]") || !strings.HasPrefix(u, prefix) {
				continue // not runnable itself
			}
			if len(path) == 0 || !outputTableRE.MatchString(help) && path[len(path)-1] != "ls" {
				continue
			}
			rest := strings.Fields(bracketsRE.ReplaceAllString(strings.TrimPrefix(u, prefix), ""))
			mu.Lock()
			found = append(found, listing{path: path, usage: u, needsArgs: len(rest) > 0})
			mu.Unlock()
			break
		}
		for _, s := range subs {
			if s == "help" || s == "completion" {
				continue
			}
			wg.Add(1)
			go walk(append(slices.Clone(path), s))
		}
	}
	wg.Add(1)
	walk(nil)
	wg.Wait()
	if fail != nil {
		t.Fatal(fail)
	}
	if len(found) == 0 {
		t.Fatal("no listing commands found in postern's help")
	}
	// In the tree's order, whatever order the walk finished in.
	slices.SortFunc(found, func(a, b listing) int { return strings.Compare(strings.Join(a.path, " "), strings.Join(b.path, " ")) })
	return found
}

// helpSections returns the usage lines and the subcommand names of a
// command's help.
func helpSections(help string) (usage, subs []string) {
	section := ""
	for _, line := range strings.Split(help, "\n") {
		switch {
		case line == "":
			section = ""
		case !strings.HasPrefix(line, " "):
			section = strings.TrimSuffix(line, ":")
		case section == "Usage":
			usage = append(usage, strings.TrimSpace(line))
		case section == "Available Commands" || section == "Additional Commands":
			subs = append(subs, strings.Fields(line)[0])
		}
	}
	return usage, subs
}
