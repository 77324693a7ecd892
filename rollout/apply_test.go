package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/authz"
	"github.com/postern/postern/document"
	"github.com/postern/postern/keys"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/rollout"
	"github.com/postern/postern/stacktemplate"
	"github.com/postern/postern/store"
)

const (
	acct  = "123456789012"
	keyID = "0d2f6a4e-8c1b-4e7a-9f3d-5b6c7d8e9f01"
)

// documents stores documents in a real store, checked by package document
// as the server's writer checks them.
type documents struct{ st *store.SQLite }

func (d documents) PutDocument(ctx context.Context, account, by, name, content string) (store.Document, error) {
	doc, err := document.Parse([]byte(content))
	if err != nil {
		return store.Document{}, err
	}
	return d.st.PutDocument(ctx, store.Document{Account: account, Name: name, Content: content, SessionType: string(doc.SessionType), CreatedBy: by})
}

func (d documents) PutPreferences(ctx context.Context, account, by, content string) (store.Document, error) {
	doc, err := document.Parse([]byte(content))
	if err != nil {
		return store.Document{}, err
	}
	if doc.SessionType != document.StandardStream {
		return store.Document{}, fmt.Errorf("the preferences must be Standard_Stream")
	}
	return d.PutDocument(ctx, account, by, document.DefaultPreferences, content)
}

func (d documents) Document(ctx context.Context, account, name string) (string, error) {
	doc, err := d.st.GetDocument(ctx, account, name, 0)
	return doc.Content, err
}

func (d documents) DeleteDocument(ctx context.Context, account, name string) error {
	return d.st.DeleteDocument(ctx, account, name)
}

// policies stores Cedar policies in a real store, the account's set
// checked as a whole by package authz, as the server's writer does.
type policies struct{ st *store.SQLite }

func (p policies) set(ctx context.Context, account string, put *store.Policy, drop string) error {
	stored, _, err := p.st.Policies(ctx, account)
	if err != nil {
		return err
	}
	var docs []authz.Stored
	for _, sp := range stored {
		if sp.ID != drop && (put == nil || sp.ID != put.ID) {
			docs = append(docs, authz.Stored{ID: sp.ID, Text: sp.Text})
		}
	}
	if put != nil {
		docs = append(docs, authz.Stored{ID: put.ID, Text: put.Text})
	}
	_, err = authz.NewPolicySet(docs)
	return err
}

func (p policies) PutPolicy(ctx context.Context, account, by, id, text string) error {
	sp := store.Policy{Account: account, ID: id, Text: text, UpdatedBy: by}
	if err := p.set(ctx, account, &sp, ""); err != nil {
		return err
	}
	return p.st.PutPolicy(ctx, sp)
}

func (p policies) DeletePolicy(ctx context.Context, account, by, id string) error {
	if err := p.set(ctx, account, nil, id); err != nil {
		return err
	}
	return p.st.DeletePolicy(ctx, account, id)
}

func (p policies) Policy(ctx context.Context, account, id string) (string, error) {
	ps, _, err := p.st.Policies(ctx, account)
	if err != nil {
		return "", err
	}
	for _, sp := range ps {
		if sp.ID == id {
			return sp.Text, nil
		}
	}
	return "", store.ErrNotFound
}

// env is an applier over a real store, key service and log store.
type env struct {
	st   *store.SQLite
	keys *keys.Service
	logs *logstore.Store
	a    *rollout.Applier
	tmpl *stacktemplate.Template
}

func newEnv(t testing.TB) *env {
	t.Helper()
	t.Setenv(keys.RootKeyEnv, "")
	ctx := t.Context()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.EnsureAccount(ctx, store.Account{ID: acct, Name: "member"}); err != nil {
		t.Fatal(err)
	}
	ks, err := keys.Open(ctx, st, filepath.Join(dir, "root.key"), keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := logstore.Open(ctx, filepath.Join(dir, "logs.db"), logstore.Options{Keys: keys.LogGroupKeys{S: ks}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close() })
	src, err := os.ReadFile("testdata/baseline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := stacktemplate.Parse("baseline.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	return &env{st: st, keys: ks, logs: ls, tmpl: tmpl,
		a: &rollout.Applier{LogGroups: ls, Documents: documents{st}, Policies: policies{st}, Keys: ks}}
}

func (e *env) render(t *testing.T, params map[string]string) []stacktemplate.Resource {
	t.Helper()
	rs, err := e.tmpl.Render(stacktemplate.Env{AccountID: acct, Region: "local", StackName: "Baseline", PhysicalIDs: map[string]string{"Key": keyID}}, params)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

var admin = keys.UserCaller(acct, "admin", true)

const group = "/postern/" + acct + "/sessions"

// TestApply deploys a template into an account: every resource is there
// as rendered; applying again changes nothing (no new document version);
// a change of parameters changes what it says and only that.
func TestApply(t *testing.T) {
	ctx := t.Context()
	e := newEnv(t)
	ds, err := e.a.Apply(ctx, acct, rollout.By("Baseline"), e.render(t, nil), nil)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.LogicalID+"="+d.PhysicalID)
	}
	if want := []string{"Key=" + keyID, "KeyAlias=alias/sessions", "Logs=" + group, "Prefs=" + document.DefaultPreferences, "Operators=baseline-operators"}; !slices.Equal(got, want) {
		t.Fatalf("deployed %v, want %v", got, want)
	}
	k, err := e.keys.Describe(ctx, admin, "alias/sessions")
	if err != nil || k.ID != keyID || k.Description != "sessions of "+acct || k.RotationPeriod != 365*24*time.Hour || !strings.Contains(k.Policy, "logs.postern") {
		t.Fatalf("the key, by its alias: %+v, %v", k, err)
	}
	g, err := e.logs.Group(ctx, acct, group)
	if err != nil || g.RetentionDays != 30 || g.KMSKeyID != "prn:postern:kms:"+acct+":key/"+keyID || !g.Encrypted {
		t.Fatalf("the log group: %+v, %v", g, err)
	}
	prefs, err := e.st.GetDocument(ctx, acct, document.DefaultPreferences, 0)
	if err != nil || prefs.Version != 1 || prefs.CreatedBy != "stackset/Baseline" || !strings.Contains(prefs.Content, group) {
		t.Fatalf("the preferences: %+v, %v", prefs, err)
	}
	if text, err := (policies{e.st}).Policy(ctx, acct, "baseline-operators"); err != nil || !strings.Contains(text, `@id("baseline-operators")`) {
		t.Fatalf("the policy: %q, %v", text, err)
	}

	// Again: nothing to do.
	ds2, err := e.a.Apply(ctx, acct, rollout.By("Baseline"), e.render(t, nil), ds)
	if err != nil {
		t.Fatal(err)
	}
	if prefs, _ := e.st.GetDocument(ctx, acct, document.DefaultPreferences, 0); prefs.Version != 1 {
		t.Errorf("applying the same rendering again made preferences version %d", prefs.Version)
	}
	if len(ds2) != len(ds) {
		t.Errorf("applying again deployed %d resources, then %d", len(ds), len(ds2))
	}

	// New values: the group's retention, the preferences, the key's
	// description change; the key stays the same key.
	if _, err := e.a.Apply(ctx, acct, rollout.By("Baseline"), e.render(t, map[string]string{"Retention": "90", "IdleTimeout": "5", "KeyDescription": "logs"}), ds2); err != nil {
		t.Fatal(err)
	}
	if g, _ := e.logs.Group(ctx, acct, group); g.RetentionDays != 90 {
		t.Errorf("retention after the update: %d", g.RetentionDays)
	}
	prefs, _ = e.st.GetDocument(ctx, acct, document.DefaultPreferences, 0)
	doc, err := document.Parse([]byte(prefs.Content))
	if err != nil || prefs.Version != 2 || doc.Inputs.IdleSessionTimeout != 5 {
		t.Errorf("preferences after the update: version %d, %+v, %v", prefs.Version, doc, err)
	}
	if k, _ := e.keys.Describe(ctx, admin, keyID); k.Description != "logs of "+acct || k.Versions != 1 {
		t.Errorf("the key after the update: %+v", k)
	}
}

// TestApplyKeepsWhatItCannotChange: a log group that exists with
// another key fails the resource, naming it; what was applied before it
// is recorded, and so is what the instance had.
func TestApplyFailure(t *testing.T) {
	ctx := t.Context()
	e := newEnv(t)
	if err := e.logs.CreateGroup(ctx, logstore.Group{Account: acct, Name: group, RetentionDays: 30}); err != nil {
		t.Fatal(err)
	}
	prev := []rollout.Deployed{{LogicalID: "Old", Type: stacktemplate.TypePolicy, PhysicalID: "old-policy", Hash: "x", Properties: []byte(`{"PolicyId":"old-policy","Statement":""}`)}}
	ds, err := e.a.Apply(ctx, acct, rollout.By("Baseline"), e.render(t, nil), prev)
	if err == nil || !strings.Contains(err.Error(), "Logs (AWS::Logs::LogGroup "+group+")") || !strings.Contains(err.Error(), "a log group's key is set when it is created") {
		t.Fatalf("Apply over a group with another key: %v", err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.LogicalID)
	}
	if want := []string{"Key", "KeyAlias", "Old"}; !slices.Equal(got, want) {
		t.Errorf("recorded %v after the failure, want %v", got, want)
	}
	// A Cedar policy whose @id the account already uses elsewhere fails
	// as `postern policy put` would.
	e2 := newEnv(t)
	if err := e2.st.PutPolicy(ctx, store.Policy{Account: acct, ID: "mine", Text: `@id("baseline-operators") permit (principal, action, resource);`}); err != nil {
		t.Fatal(err)
	}
	if _, err := e2.a.Apply(ctx, acct, rollout.By("Baseline"), e2.render(t, nil), nil); err == nil || !strings.HasPrefix(err.Error(), "Operators (Postern::Authz::Policy baseline-operators): ") {
		t.Errorf("Apply with a clashing @id: %v", err)
	}
}

// TestReadAndDiff: what a member changes reads back, and Diff says which
// fields; what it deletes reads back as gone.
func TestReadAndDiff(t *testing.T) {
	ctx := t.Context()
	e := newEnv(t)
	ds, err := e.a.Apply(ctx, acct, rollout.By("Baseline"), e.render(t, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	drift := func() map[string][]string {
		t.Helper()
		out := map[string][]string{}
		for _, d := range ds {
			want, err := d.Want()
			if err != nil {
				t.Fatal(err)
			}
			got, found, err := e.a.Read(ctx, acct, d)
			if err != nil {
				t.Fatalf("Read %s: %v", d.LogicalID, err)
			}
			if !found {
				out[d.LogicalID] = []string{"DELETED"}
				continue
			}
			for _, diff := range stacktemplate.Diff(want, got) {
				out[d.LogicalID] = append(out[d.LogicalID], fmt.Sprintf("%s: %v -> %v", diff.Path, diff.Want, diff.Got))
			}
		}
		return out
	}
	if d := drift(); len(d) != 0 {
		t.Fatalf("drift right after deploying: %v", d)
	}
	if err := e.logs.SetRetention(ctx, acct, group, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.PutDocument(ctx, store.Document{Account: acct, Name: document.DefaultPreferences,
		Content: `{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{"cloudWatchLogGroupName":"` + group + `","idleSessionTimeout":60}}`}); err != nil {
		t.Fatal(err)
	}
	if err := e.keys.SetPolicy(ctx, admin, keyID, keys.DefaultPolicy(acct)); err != nil {
		t.Fatal(err)
	}
	if err := e.keys.Disable(ctx, admin, keyID); err != nil {
		t.Fatal(err)
	}
	if err := e.st.DeletePolicy(ctx, acct, "baseline-operators"); err != nil {
		t.Fatal(err)
	}
	d := drift()
	if got := d["Logs"]; !slices.Equal(got, []string{"RetentionInDays: 30 -> 7"}) {
		t.Errorf("the log group's drift: %v", got)
	}
	if got := d["Prefs"]; !slices.Equal(got, []string{"Content.inputs.idleSessionTimeout: 20 -> 60"}) {
		t.Errorf("the preferences' drift: %v", got)
	}
	if got := strings.Join(d["Key"], "\n"); !strings.Contains(got, "Enabled: true -> false") || !strings.Contains(got, "KeyPolicy.Statement[1].Principal.Service: logs.postern -> ") {
		t.Errorf("the key's drift:\n%s", got)
	}
	if got := d["Operators"]; !slices.Equal(got, []string{"DELETED"}) {
		t.Errorf("the policy's drift: %v", got)
	}
	if _, ok := d["KeyAlias"]; ok {
		t.Errorf("the alias drifted: %v", d["KeyAlias"])
	}
	// Deploying again puts everything back.
	if ds, err = e.a.Apply(ctx, acct, rollout.By("Baseline"), e.render(t, nil), ds); err != nil {
		t.Fatal(err)
	}
	if d := drift(); len(d) != 0 {
		t.Errorf("drift after deploying again: %v", d)
	}
}

// TestRemove: removing an instance deletes its resources, the last
// deployed first, but the retained log group; a resource that left the
// template goes at the next Apply.
func TestRemove(t *testing.T) {
	ctx := t.Context()
	e := newEnv(t)
	ds, err := e.a.Apply(ctx, acct, rollout.By("Baseline"), e.render(t, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Without the policy: it goes.
	rs := slices.DeleteFunc(e.render(t, nil), func(r stacktemplate.Resource) bool { return r.LogicalID == "Operators" })
	if ds, err = e.a.Apply(ctx, acct, rollout.By("Baseline"), rs, ds); err != nil {
		t.Fatal(err)
	}
	if _, err := (policies{e.st}).Policy(ctx, acct, "baseline-operators"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a policy that left the template is still there: %v", err)
	}
	left, err := e.a.Remove(ctx, acct, rollout.By("Baseline"), ds)
	if err != nil || len(left) != 0 {
		t.Fatalf("Remove: left %v, %v", left, err)
	}
	if _, err := e.logs.Group(ctx, acct, group); err != nil {
		t.Errorf("the retained log group went: %v", err)
	}
	if _, err := e.st.GetDocument(ctx, acct, document.DefaultPreferences, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the preferences stayed: %v", err)
	}
	if _, err := e.keys.Describe(ctx, admin, "alias/sessions"); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("the alias stayed: %v", err)
	}
	if k, err := e.keys.Describe(ctx, admin, keyID); err != nil || k.State != store.KeyPendingDeletion || k.DeletionDate.Sub(time.Now()) > 8*24*time.Hour {
		t.Errorf("the key is not pending deletion after its 7 days' window: %+v, %v", k, err)
	}
	// Removing again finds nothing to do.
	if left, err := e.a.Remove(ctx, acct, rollout.By("Baseline"), ds); err != nil || len(left) != 0 {
		t.Errorf("Remove again: left %v, %v", left, err)
	}
	// Deploying again brings the key back from its deletion.
	if _, err := e.a.Apply(ctx, acct, rollout.By("Baseline"), e.render(t, nil), nil); err != nil {
		t.Fatal(err)
	}
	if k, _ := e.keys.Describe(ctx, admin, keyID); k.State != store.KeyEnabled {
		t.Errorf("the key after deploying again: %s", k.State)
	}
}

// TestProtection: a protected resource an instance deployed is found
// with its stack set; the others, and other accounts', are not.
func TestProtection(t *testing.T) {
	ctx := t.Context()
	e := newEnv(t)
	if err := e.st.EnsureAccount(ctx, store.Account{ID: "000000000001", Name: "management"}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateOrganization(ctx, store.Organization{ID: "o-abcdefghij", ManagementAccount: "000000000001", Root: "r-ab12"}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateStackSet(ctx, store.StackSet{Org: "o-abcdefghij", Name: "Baseline"}); err != nil {
		t.Fatal(err)
	}
	ds, err := e.a.Apply(ctx, acct, rollout.By("Baseline"), e.render(t, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	text, err := rollout.EncodeDeployed(ds)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.PutStackInstance(ctx, store.StackInstance{Org: "o-abcdefghij", StackSet: "Baseline", Account: acct, Resources: text}); err != nil {
		t.Fatal(err)
	}
	protected := rollout.Protection(e.st)
	for _, tt := range []struct {
		account, typ, id string
		want             bool
	}{
		{acct, stacktemplate.TypeLogGroup, group, true},
		{acct, stacktemplate.TypeLogGroup, "/other", false},
		{acct, stacktemplate.TypeDocument, document.DefaultPreferences, false}, // deployed, not protected
		{acct, stacktemplate.TypePolicy, "baseline-operators", false},
		{"000000000001", stacktemplate.TypeLogGroup, group, false},
	} {
		p, err := protected(ctx, tt.account, tt.typ, tt.id)
		if err != nil {
			t.Fatal(err)
		}
		if (p != nil) != tt.want || p != nil && (p.StackSet != "Baseline" || p.Org != "o-abcdefghij" || p.LogicalID != "Logs") {
			t.Errorf("Protection(%s, %s, %s) = %+v, want protected %v", tt.account, tt.typ, tt.id, p, tt.want)
		}
	}
}
