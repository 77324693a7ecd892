package orgs

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/postern/postern/store"
)

// TestPlace: an account's organization and path, as aws:PrincipalOrgPaths
// and the Cedar attribute orgPath spell them, follow it through nested
// units, from the store alone; an account outside any has neither.
func TestPlace(t *testing.T) {
	ctx := t.Context()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for _, a := range []string{store.DefaultAccount, "000000000002"} {
		if err := st.EnsureAccount(ctx, store.Account{ID: a, Name: a, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	const org, root = "o-abcdefghij", "r-ab12"
	if err := st.CreateOrganization(ctx, store.Organization{ID: org, ManagementAccount: store.DefaultAccount, Root: root, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	prod := store.OrgUnit{ID: "ou-ab12-aaaaaaaa", Org: org, Parent: root, Name: "Prod", CreatedAt: now}
	web := store.OrgUnit{ID: "ou-ab12-bbbbbbbb", Org: org, Parent: prod.ID, Name: "Web", CreatedAt: now}
	for _, u := range []store.OrgUnit{prod, web} {
		if err := st.CreateOrgUnit(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateMemberAccount(ctx, store.Account{ID: "000000000010", Name: "web-prod", CreatedAt: now, Org: org, Parent: web.ID}); err != nil {
		t.Fatal(err)
	}
	place := Place(st)
	for _, tt := range []struct{ account, org, path string }{
		{store.DefaultAccount, org, org + "/" + root + "/"},
		{"000000000010", org, org + "/" + root + "/" + prod.ID + "/" + web.ID + "/"},
		{"000000000002", "", ""},
		{"999999999999", "", ""}, // unknown: no organization, no error
	} {
		gotOrg, gotPath, err := place(ctx, tt.account)
		if err != nil || gotOrg != tt.org || gotPath != tt.path {
			t.Errorf("Place(%s) = %q, %q, %v; want %q, %q", tt.account, gotOrg, gotPath, err, tt.org, tt.path)
		}
	}
	if err := st.MoveAccount(ctx, org, "000000000010", web.ID, root); err != nil {
		t.Fatal(err)
	}
	if _, path, _ := place(ctx, "000000000010"); path != org+"/"+root+"/" {
		t.Errorf("after the move, the path is %q", path)
	}
}

// TestAssumedBy: only the session tokens AssumeRole issues name who
// assumed them; an API token a user named like one does not pass for it
// (the audit trail would name someone else as its actor).
func TestAssumedBy(t *testing.T) {
	if a, u, ok := AssumedBy(store.Token{Kind: store.TokenSession, Name: assumedPrefix + "000000000001/alice"}); !ok || a != "000000000001" || u != "alice" {
		t.Errorf("AssumedBy(an assumed role's token) = %q, %q, %v", a, u, ok)
	}
	if _, _, ok := AssumedBy(store.Token{Kind: store.TokenAPI, Name: assumedPrefix + "000000000001/admin"}); ok {
		t.Error("an API token named like an assumed role's passes for one")
	}
	for _, name := range []string{"", "ci", "assumed-role by", "assumed-role by 000000000001"} {
		if _, _, ok := AssumedBy(store.Token{Kind: store.TokenSession, Name: name}); ok {
			t.Errorf("AssumedBy(%q) says the token is an assumed role's", name)
		}
	}
}
