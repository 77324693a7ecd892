// Package storetest is a conformance suite for store.Store implementations.
package storetest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/store"
)

// Run tests a store.Store implementation. open must return a new, empty
// store on each call; Run closes it when the subtest that opened it ends.
//
// Times in the suite have microsecond precision, the finest PostgreSQL
// keeps, and so have durations. Implementations may return times in any
// location, nil or empty maps for no tags and nil or empty lists for a key
// without versions; the suite treats those as equal. It does not depend on
// the order of ListUsers, ListActivations and ListNodes, which the interface
// leaves open.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Accounts", testAccounts},
		{"Organizations", testOrganizations},
		{"StackSets", testStackSets},
		{"StackSetOperations", testStackSetOperations},
		{"StackSetOperationHistory", testStackSetOperationHistory},
		{"Users", testUsers},
		{"Tokens", testTokens},
		{"Policies", testPolicies},
		{"Cursors", testCursors},
		{"Leases", testLeases},
		{"AccessKeys", testAccessKeys},
		{"LeasesConcurrent", testLeasesConcurrent},
		{"LeaseHolders", testLeaseHolders},
		{"Placements", testPlacements},
		{"Activations", testActivations},
		{"RegisterNode", testRegisterNode},
		{"RegisterNodeRefusals", testRegisterNodeRefusals},
		{"RegisterNodeConcurrentLimit", testRegisterNodeConcurrentLimit},
		{"Nodes", testNodes},
		{"TouchNode", testTouchNode},
		{"DeleteNode", testDeleteNode},
		{"Sessions", testSessions},
		{"UpdateSession", testUpdateSession},
		{"Documents", testDocuments},
		{"DocumentsConcurrent", testDocumentsConcurrent},
		{"ListSessions", testListSessions},
		{"Deliveries", testDeliveries},
		{"Keys", testKeys},
		{"UpdateKey", testUpdateKey},
		{"AddKeyVersion", testAddKeyVersion},
		{"AddKeyVersionConcurrent", testAddKeyVersionConcurrent},
		{"DueKeys", testDueKeys},
		{"DestroyKey", testDestroyKey},
		{"Aliases", testAliases},
		{"RootKeyCheck", testRootKeyCheck},
		{"RootKeyCheckConcurrent", testRootKeyCheckConcurrent},
		{"Audit", testAudit},
		{"AuditConcurrent", testAuditConcurrent},
		{"Commands", testCommands},
		{"ListCommands", testListCommands},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			for _, id := range []string{acctA, acctB} {
				if err := s.EnsureAccount(t.Context(), store.Account{ID: id, Name: "account " + id, CreatedAt: t0}); err != nil {
					t.Fatalf("EnsureAccount(%s): %v", id, err)
				}
			}
			tt.fn(t, s)
		})
	}
}

const (
	acctA       = store.DefaultAccount
	acctB       = "000000000002"
	acctUnknown = "999999999999"
)

// t0 has sub-second digits down to the microsecond so that a store that
// kept only milliseconds or seconds fails.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

func testAccounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Run already created acctA; doing it again, under another name, is
	// not an error.
	if err := s.EnsureAccount(ctx, store.Account{ID: acctA, Name: "renamed", CreatedAt: t0.Add(time.Hour)}); err != nil {
		t.Fatalf("EnsureAccount(existing): %v", err)
	}
	const acctC = "000000000003"
	if err := s.EnsureAccount(ctx, store.Account{ID: acctC, Name: "third", CreatedAt: t0}); err != nil {
		t.Fatalf("EnsureAccount(new): %v", err)
	}
	// There is no GetAccount: show the account exists by using it.
	if err := s.CreateUser(ctx, store.User{Account: acctC, Name: "carol", CreatedAt: t0}); err != nil {
		t.Fatalf("CreateUser in new account: %v", err)
	}
}

func testUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := store.User{
		Account:      acctA,
		Name:         "alice",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Groups:       []string{"administrators", "operators"},
		RunAs:        "ubuntu",
		CreatedAt:    t0,
	}
	bob := store.User{Account: acctA, Name: "bob", CreatedAt: t0.Add(time.Minute)}
	aliceB := store.User{Account: acctB, Name: "alice", PasswordHash: "other", CreatedAt: t0}
	for _, u := range []store.User{alice, bob, aliceB} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%s/%s): %v", u.Account, u.Name, err)
		}
	}

	got, err := s.GetUser(ctx, acctA, "alice")
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	checkEqual(t, "GetUser", got, alice)

	dup := alice
	dup.PasswordHash = "different"
	if err := s.CreateUser(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateUser(duplicate) = %v, want ErrConflict", err)
	}
	if got, _ := s.GetUser(ctx, acctA, "alice"); got.PasswordHash != alice.PasswordHash {
		t.Errorf("duplicate CreateUser changed the password hash to %q", got.PasswordHash)
	}

	for _, tt := range []struct{ name, account, user string }{
		{"unknown user", acctA, "mallory"},
		{"user of another account", acctB, "bob"},
		{"unknown account", acctUnknown, "alice"},
	} {
		if _, err := s.GetUser(ctx, tt.account, tt.user); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetUser(%s) = %v, want ErrNotFound", tt.name, err)
		}
	}

	updated := alice
	updated.PasswordHash = ""
	updated.Groups = nil
	updated.RunAs = "alice"
	updated.Federated = "https://idp.example.com alice-sub"
	if err := s.UpdateUser(ctx, updated); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	got, err = s.GetUser(ctx, acctA, "alice")
	if err != nil {
		t.Fatalf("GetUser after update: %v", err)
	}
	checkEqual(t, "GetUser after update", got, updated)
	if got, err := s.FederatedUser(ctx, acctA, updated.Federated); err != nil || got.Name != "alice" {
		t.Errorf("FederatedUser = %+v, %v", got, err)
	}
	for _, f := range []string{"", "https://idp.example.com bob-sub"} {
		if _, err := s.FederatedUser(ctx, acctA, f); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FederatedUser(%q) = %v, want ErrNotFound", f, err)
		}
	}
	if _, err := s.FederatedUser(ctx, acctB, updated.Federated); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FederatedUser(other account) = %v, want ErrNotFound", err)
	}
	if got, _ := s.GetUser(ctx, acctB, "alice"); got.PasswordHash != aliceB.PasswordHash {
		t.Errorf("UpdateUser changed the same-named user of another account")
	}
	if err := s.UpdateUser(ctx, store.User{Account: acctA, Name: "mallory"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateUser(unknown) = %v, want ErrNotFound", err)
	}

	for _, tt := range []struct {
		account string
		want    []store.User
	}{
		{acctA, []store.User{updated, bob}},
		{acctB, []store.User{aliceB}},
		{acctUnknown, nil},
	} {
		got, err := s.ListUsers(ctx, tt.account)
		if err != nil {
			t.Fatalf("ListUsers(%s): %v", tt.account, err)
		}
		sortBy(got, func(u store.User) string { return u.Name })
		checkList(t, "ListUsers("+tt.account+")", got, tt.want)
	}
}

func testTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.CreateUser(ctx, store.User{Account: acctA, Name: "alice", CreatedAt: t0}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	tests := []struct {
		name    string
		expires time.Time
		now     time.Time
		wantErr error
	}{
		{"before expiry", t0.Add(time.Hour), t0.Add(59 * time.Minute), nil},
		{"after expiry", t0.Add(time.Hour), t0.Add(time.Hour + time.Second), store.ErrNotFound},
		{"zero expiry never expires", time.Time{}, t0.AddDate(100, 0, 0), nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := store.Token{
				Hash:      fmt.Sprintf("%064x", i+1),
				ID:        fmt.Sprintf("tok-%d", i+1),
				Account:   acctA,
				User:      "alice",
				Kind:      store.TokenAPI,
				Name:      tt.name,
				Scopes:    []string{"DescribeSessions", "QueryLogs"},
				CreatedAt: t0,
				ExpiresAt: tt.expires,
			}
			if err := s.CreateToken(ctx, tok); err != nil {
				t.Fatalf("CreateToken: %v", err)
			}
			got, err := s.GetToken(ctx, tok.Hash, tt.now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("GetToken = %v, want %v", err, tt.wantErr)
			}
			if err == nil {
				checkEqual(t, "GetToken", got, tok)
			}
		})
	}

	tok := store.Token{Hash: strings.Repeat("ab", 32), Account: acctA, User: "alice", Kind: store.TokenSession, CreatedAt: t0}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if err := s.CreateToken(ctx, tok); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateToken(duplicate) = %v, want ErrConflict", err)
	}
	if _, err := s.GetToken(ctx, strings.Repeat("cd", 32), t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetToken(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteToken(ctx, tok.Hash); err != nil {
		t.Fatalf("DeleteToken: %v", err)
	}
	if _, err := s.GetToken(ctx, tok.Hash, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetToken after delete = %v, want ErrNotFound", err)
	}
	if err := s.DeleteToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteToken(deleted) = %v, want ErrNotFound", err)
	}
	// Deleting one token leaves the others alone.
	if _, err := s.GetToken(ctx, fmt.Sprintf("%064x", 1), t0); err != nil {
		t.Errorf("GetToken(other token) after delete: %v", err)
	}

	// Listing shows unexpired tokens without their hashes; revoking by ID
	// takes a session token and its refresh token together.
	for _, tk := range []store.Token{
		{Hash: strings.Repeat("11", 32), ID: "tok-s", Account: acctA, User: "alice", Kind: store.TokenSession, CreatedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(time.Hour)},
		{Hash: strings.Repeat("22", 32), ID: "tok-s", Account: acctA, User: "alice", Kind: store.TokenRefresh, CreatedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(24 * time.Hour)},
	} {
		if err := s.CreateToken(ctx, tk); err != nil {
			t.Fatalf("CreateToken(%s): %v", tk.Kind, err)
		}
	}
	list, err := s.ListTokens(ctx, acctA, "alice", t0.Add(2*time.Hour))
	if err != nil {
		t.Fatalf("ListTokens: %v", err)
	}
	var ids []string
	for _, tk := range list {
		if tk.Hash != "" {
			t.Errorf("ListTokens shows the hash of %s", tk.ID)
		}
		ids = append(ids, tk.ID+"/"+tk.Kind)
	}
	// tok-1 expired at t0+1h; tok-3 never expires; the session token
	// expired, its refresh token has not.
	if want := []string{"tok-s/refresh", "tok-3/api"}; !slices.Equal(ids, want) {
		t.Errorf("ListTokens = %v, want %v", ids, want)
	}
	if err := s.RevokeToken(ctx, acctB, "alice", "tok-s"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeToken(another account's user) = %v, want ErrNotFound", err)
	}
	if err := s.RevokeToken(ctx, acctA, "alice", "tok-s"); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	for _, h := range []string{strings.Repeat("11", 32), strings.Repeat("22", 32)} {
		if _, err := s.GetToken(ctx, h, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetToken after revoke = %v, want ErrNotFound", err)
		}
	}
	if err := s.RevokeToken(ctx, acctA, "alice", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeToken(no ID) = %v, want ErrNotFound", err)
	}
	// Revoking a user's tokens takes every kind, of that user only, and
	// keeps the time of the sign-in behind a token.
	signed := t0.Add(-time.Hour)
	if err := s.CreateUser(ctx, store.User{Account: acctA, Name: "bob", CreatedAt: t0}); err != nil && !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateUser(bob): %v", err)
	}
	for i, k := range []string{store.TokenSession, store.TokenRefresh, store.TokenAPI} {
		tk := store.Token{Hash: fmt.Sprintf("%064x", 100+i), ID: "tok-r", Account: acctA, User: "bob", Kind: k, CreatedAt: t0, SignedInAt: signed}
		if k == store.TokenAPI {
			tk.ID, tk.SignedInAt = "tok-rapi", time.Time{}
		}
		if err := s.CreateToken(ctx, tk); err != nil {
			t.Fatalf("CreateToken: %v", err)
		}
	}
	if tk, err := s.GetToken(ctx, fmt.Sprintf("%064x", 100), t0); err != nil || !tk.SignedInAt.Equal(signed) {
		t.Errorf("GetToken = %+v, %v; want SignedInAt %v", tk, err, signed)
	}
	if n, err := s.RevokeUserTokens(ctx, acctA, "bob"); n != 3 || err != nil {
		t.Errorf("RevokeUserTokens(bob) = %d, %v; want 3", n, err)
	}
	if n, err := s.RevokeUserTokens(ctx, acctB, "alice"); n != 0 || err != nil {
		t.Errorf("RevokeUserTokens(another account's alice) = %d, %v; want 0", n, err)
	}
	if _, err := s.GetToken(ctx, fmt.Sprintf("%064x", 3), t0); err != nil {
		t.Errorf("alice's token after bob's were revoked: %v", err)
	}
	// A user's tokens go with the user.
	if err := s.DeleteUser(ctx, acctA, "alice"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := s.GetToken(ctx, fmt.Sprintf("%064x", 3), t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetToken after DeleteUser = %v, want ErrNotFound", err)
	}
	if err := s.DeleteUser(ctx, acctA, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteUser(deleted) = %v, want ErrNotFound", err)
	}
}

func testCursors(t *testing.T, s store.Store) {
	ctx := t.Context()
	if v, err := s.Cursor(ctx, "audit/s3"); err != nil || v != 0 {
		t.Fatalf("new cursor = %d, %v", v, err)
	}
	for _, v := range []int64{7, 42} {
		if err := s.SetCursor(ctx, "audit/s3", v); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Cursor(ctx, "audit/s3"); err != nil || got != v {
			t.Errorf("Cursor = %d, %v; want %d", got, err, v)
		}
	}
	if v, _ := s.Cursor(ctx, "audit/cloudwatch"); v != 0 {
		t.Errorf("another cursor moved with it: %d", v)
	}
}

func testPolicies(t *testing.T, s store.Store) {
	ctx := t.Context()
	ps, seeded, err := s.Policies(ctx, acctA)
	if err != nil || seeded || len(ps) != 0 {
		t.Fatalf("Policies(new account) = %v, %v, %v; want none, not seeded", ps, seeded, err)
	}
	p := store.Policy{Account: acctA, ID: "defaults", Text: "permit (principal, action, resource);", UpdatedAt: t0, UpdatedBy: "alice"}
	if err := s.PutPolicy(ctx, p); err != nil {
		t.Fatalf("PutPolicy: %v", err)
	}
	p2 := p
	p2.Text, p2.UpdatedBy = "forbid (principal, action, resource);", "bob"
	if err := s.PutPolicy(ctx, p2); err != nil {
		t.Fatalf("PutPolicy(replace): %v", err)
	}
	ps, seeded, err = s.Policies(ctx, acctA)
	if err != nil || !seeded || len(ps) != 1 {
		t.Fatalf("Policies = %v, %v, %v", ps, seeded, err)
	}
	checkEqual(t, "Policies", ps[0], p2)
	if ps, _, _ := s.Policies(ctx, acctB); len(ps) != 0 {
		t.Errorf("another account sees %d policies", len(ps))
	}
	if err := s.DeletePolicy(ctx, acctA, "defaults"); err != nil {
		t.Fatalf("DeletePolicy: %v", err)
	}
	// Emptied, but still seeded: an administrator's choice to keep.
	if ps, seeded, err := s.Policies(ctx, acctA); err != nil || !seeded || len(ps) != 0 {
		t.Errorf("Policies after delete = %v, %v, %v", ps, seeded, err)
	}
	if err := s.DeletePolicy(ctx, acctA, "defaults"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeletePolicy(deleted) = %v, want ErrNotFound", err)
	}
	if _, _, err := s.Policies(ctx, acctUnknown); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Policies(unknown account) = %v, want ErrNotFound", err)
	}
}

func newActivation(id, account string) store.Activation {
	return store.Activation{
		ID:                id,
		Account:           account,
		CodeHash:          strings.Repeat("c0", 32),
		Description:       "web fleet",
		DefaultName:       "web",
		Tags:              map[string]string{"env": "prod", "team": "infra"},
		RegistrationLimit: 10,
		ExpiresAt:         t0.Add(24 * time.Hour),
		CreatedAt:         t0,
	}
}

func createActivation(t *testing.T, s store.Store, a store.Activation) {
	t.Helper()
	if err := s.CreateActivation(t.Context(), a); err != nil {
		t.Fatalf("CreateActivation(%s): %v", a.ID, err)
	}
}

func testActivations(t *testing.T, s store.Store) {
	ctx := t.Context()
	a1 := newActivation("11111111-1111-4111-8111-111111111111", acctA)
	a1.RegistrationCount = 4
	a2 := newActivation("22222222-2222-4222-8222-222222222222", acctA)
	a2.Tags = nil
	a2.CreatedAt = t0.Add(time.Minute)
	b1 := newActivation("33333333-3333-4333-8333-333333333333", acctB)
	for _, a := range []store.Activation{a1, a2, b1} {
		createActivation(t, s, a)
	}

	for _, want := range []store.Activation{a1, a2} {
		got, err := s.GetActivation(ctx, want.ID)
		if err != nil {
			t.Fatalf("GetActivation(%s): %v", want.ID, err)
		}
		checkEqual(t, "GetActivation", got, want)
	}
	if _, err := s.GetActivation(ctx, "44444444-4444-4444-8444-444444444444"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetActivation(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.CreateActivation(ctx, a1); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateActivation(duplicate) = %v, want ErrConflict", err)
	}

	for _, tt := range []struct {
		account string
		want    []store.Activation
	}{
		{acctA, []store.Activation{a1, a2}},
		{acctB, []store.Activation{b1}},
		{acctUnknown, nil},
	} {
		got, err := s.ListActivations(ctx, tt.account)
		if err != nil {
			t.Fatalf("ListActivations(%s): %v", tt.account, err)
		}
		sortBy(got, func(a store.Activation) string { return a.ID })
		checkList(t, "ListActivations("+tt.account+")", got, tt.want)
	}
}

func newNode(id string) store.Node {
	return store.Node{
		ID:           id,
		Name:         "web-1",
		Hostname:     "web-1.example.com",
		OS:           "linux",
		Platform:     "Debian GNU/Linux 12 (bookworm)",
		AgentVersion: "0.1.0",
		IP:           "192.0.2.10",
		Tags:         map[string]string{"env": "prod"},
		CertSerial:   "7f3a",
		RegisteredAt: t0.Add(time.Hour),
	}
}

func checkRegistrationCount(t *testing.T, s store.Store, activationID string, want int) {
	t.Helper()
	a, err := s.GetActivation(t.Context(), activationID)
	if err != nil {
		t.Fatalf("GetActivation: %v", err)
	}
	if a.RegistrationCount != want {
		t.Errorf("RegistrationCount = %d, want %d", a.RegistrationCount, want)
	}
}

func testRegisterNode(t *testing.T, s store.Store) {
	ctx := t.Context()
	act := newActivation("11111111-1111-4111-8111-111111111111", acctA)
	createActivation(t, s, act)

	// The node's account and activation come from the activation: the
	// caller need not fill them in.
	n := newNode("mi-0123456789abcdef0")
	if err := s.RegisterNode(ctx, act.ID, n, t0.Add(time.Hour)); err != nil {
		t.Fatalf("RegisterNode: %v", err)
	}
	want := n
	want.Account = acctA
	want.ActivationID = act.ID
	got, err := s.GetNode(ctx, n.ID)
	if err != nil {
		t.Fatalf("GetNode: %v", err)
	}
	checkEqual(t, "GetNode", got, want)
	if !got.LastSeen.IsZero() {
		t.Errorf("LastSeen = %v, want zero", got.LastSeen)
	}
	checkRegistrationCount(t, s, act.ID, 1)

	// A node cannot use an activation to join another account.
	n2 := newNode("mi-0123456789abcdef1")
	n2.Account = acctB
	if err := s.RegisterNode(ctx, act.ID, n2, t0.Add(time.Hour)); err != nil {
		t.Fatalf("RegisterNode(node naming another account): %v", err)
	}
	if got, err := s.GetNode(ctx, n2.ID); err != nil {
		t.Fatalf("GetNode: %v", err)
	} else if got.Account != acctA {
		t.Errorf("node registered with %s's activation is in account %s", acctA, got.Account)
	}
}

func testRegisterNodeRefusals(t *testing.T, s store.Store) {
	ctx := t.Context()
	// A node that exists already, registered with its own activation.
	existing := newActivation("00000000-0000-4000-8000-000000000000", acctA)
	createActivation(t, s, existing)
	const dupID = "mi-00000000000000000"
	if err := s.RegisterNode(ctx, existing.ID, newNode(dupID), t0); err != nil {
		t.Fatalf("RegisterNode: %v", err)
	}

	tests := []struct {
		name    string
		limit   int
		count   int
		expires time.Time
		unknown bool // register with an activation id that does not exist
		nodeID  string
		wantErr error
	}{
		{
			name:    "unknown activation",
			unknown: true,
			wantErr: store.ErrNotFound,
		},
		{
			name:    "expired",
			expires: t0.Add(-time.Second),
			wantErr: store.ErrExpired,
		},
		{
			name:    "exhausted",
			limit:   2,
			count:   2,
			wantErr: store.ErrExhausted,
		},
		{
			name:    "over limit",
			limit:   1,
			count:   5,
			wantErr: store.ErrExhausted,
		},
		{
			name:    "duplicate node id",
			nodeID:  dupID,
			wantErr: store.ErrConflict,
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			act := newActivation(fmt.Sprintf("aaaaaaaa-aaaa-4aaa-8aaa-%012d", i+1), acctA)
			if tt.limit != 0 {
				act.RegistrationLimit = tt.limit
			}
			act.RegistrationCount = tt.count
			if !tt.expires.IsZero() {
				act.ExpiresAt = tt.expires
			}
			createActivation(t, s, act)
			id := act.ID
			if tt.unknown {
				id = "ffffffff-ffff-4fff-8fff-ffffffffffff"
			}
			nodeID := tt.nodeID
			if nodeID == "" {
				nodeID = fmt.Sprintf("mi-%017x", i+1)
			}

			err := s.RegisterNode(ctx, id, newNode(nodeID), t0)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("RegisterNode = %v, want %v", err, tt.wantErr)
			}
			checkRegistrationCount(t, s, act.ID, tt.count)
			n, err := s.GetNode(ctx, nodeID)
			switch {
			case nodeID == dupID:
				if err != nil || n.ActivationID != existing.ID {
					t.Errorf("GetNode(existing) = %+v, %v; want the node registered before", n, err)
				}
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("refused node was stored: GetNode = %+v, %v", n, err)
			}
		})
	}
	checkRegistrationCount(t, s, existing.ID, 1)
}

func testRegisterNodeConcurrentLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	const limit, tries = 3, 16
	act := newActivation("11111111-1111-4111-8111-111111111111", acctA)
	act.RegistrationLimit = limit
	createActivation(t, s, act)

	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range tries {
		wg.Go(func() {
			errs[i] = s.RegisterNode(ctx, act.ID, newNode(fmt.Sprintf("mi-%017x", i+1)), t0)
		})
	}
	wg.Wait()

	registered := 0
	for i, err := range errs {
		switch {
		case err == nil:
			registered++
		case !errors.Is(err, store.ErrExhausted):
			t.Errorf("RegisterNode #%d = %v, want nil or ErrExhausted", i, err)
		}
	}
	if registered != limit {
		t.Errorf("%d of %d concurrent registrations succeeded, want the limit %d", registered, tries, limit)
	}
	checkRegistrationCount(t, s, act.ID, limit)
	nodes, err := s.ListNodes(ctx, acctA)
	if err != nil {
		t.Fatalf("ListNodes: %v", err)
	}
	if len(nodes) != limit {
		t.Errorf("ListNodes has %d nodes, want %d", len(nodes), limit)
	}
}

func testNodes(t *testing.T, s store.Store) {
	ctx := t.Context()
	actA := newActivation("11111111-1111-4111-8111-111111111111", acctA)
	actB := newActivation("22222222-2222-4222-8222-222222222222", acctB)
	createActivation(t, s, actA)
	createActivation(t, s, actB)

	tagged := newNode("mi-00000000000000001")
	tagged.Tags = map[string]string{
		"Name":      "web-1",
		"empty":     "",
		"a=b,c":     `quote " and backslash \`,
		"ünïcödé 🚀": "値",
	}
	untagged := newNode("mi-00000000000000002")
	untagged.Name = "db-1"
	untagged.Tags = nil
	other := newNode("mi-00000000000000003")
	for _, r := range []struct {
		act store.Activation
		n   store.Node
	}{{actA, tagged}, {actA, untagged}, {actB, other}} {
		if err := s.RegisterNode(ctx, r.act.ID, r.n, t0); err != nil {
			t.Fatalf("RegisterNode(%s): %v", r.n.ID, err)
		}
	}

	for _, want := range []store.Node{tagged, untagged} {
		got, err := s.GetNode(ctx, want.ID)
		if err != nil {
			t.Fatalf("GetNode(%s): %v", want.ID, err)
		}
		want.Account = acctA
		want.ActivationID = actA.ID
		checkEqual(t, "GetNode", got, want)
	}
	if _, err := s.GetNode(ctx, "mi-fffffffffffffffff"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetNode(unknown) = %v, want ErrNotFound", err)
	}

	for _, tt := range []struct {
		account string
		want    []string
	}{
		{acctA, []string{tagged.ID, untagged.ID}},
		{acctB, []string{other.ID}},
		{acctUnknown, nil},
	} {
		nodes, err := s.ListNodes(ctx, tt.account)
		if err != nil {
			t.Fatalf("ListNodes(%s): %v", tt.account, err)
		}
		got := ids(nodes, func(n store.Node) string { return n.ID })
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("ListNodes(%s) = %q, want %q", tt.account, got, tt.want)
		}
	}
}

func testTouchNode(t *testing.T, s store.Store) {
	ctx := t.Context()
	act := newActivation("11111111-1111-4111-8111-111111111111", acctA)
	createActivation(t, s, act)
	n := newNode("mi-00000000000000001")
	if err := s.RegisterNode(ctx, act.ID, n, t0); err != nil {
		t.Fatalf("RegisterNode: %v", err)
	}

	want := n
	want.Account = acctA
	want.ActivationID = act.ID
	for _, tt := range []struct {
		name         string
		seen         time.Time
		ip, agentVer string
	}{
		{"first connection", t0.Add(2 * time.Hour), "198.51.100.7", "0.2.0"},
		{"heartbeat from a new address", t0.Add(3 * time.Hour), "2001:db8::7", "0.2.1"},
	} {
		if err := s.TouchNode(ctx, n.ID, tt.seen, tt.ip, tt.agentVer); err != nil {
			t.Fatalf("TouchNode(%s): %v", tt.name, err)
		}
		want.LastSeen, want.IP, want.AgentVersion = tt.seen, tt.ip, tt.agentVer
		got, err := s.GetNode(ctx, n.ID)
		if err != nil {
			t.Fatalf("GetNode: %v", err)
		}
		checkEqual(t, "GetNode after TouchNode("+tt.name+")", got, want)
	}
	if err := s.TouchNode(ctx, "mi-fffffffffffffffff", t0, "", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchNode(unknown) = %v, want ErrNotFound", err)
	}
}

// testDeleteNode: a deregistered node is gone from its account, and only
// its account may deregister it.
func testDeleteNode(t *testing.T, s store.Store) {
	ctx := t.Context()
	act := newActivation("11111111-1111-4111-8111-111111111112", acctA)
	createActivation(t, s, act)
	n := newNode("mi-00000000000000002")
	if err := s.RegisterNode(ctx, act.ID, n, t0); err != nil {
		t.Fatalf("RegisterNode: %v", err)
	}
	if err := s.DeleteNode(ctx, acctB, n.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteNode from another account = %v, want ErrNotFound", err)
	}
	if err := s.DeleteNode(ctx, acctA, n.ID); err != nil {
		t.Fatalf("DeleteNode: %v", err)
	}
	if _, err := s.GetNode(ctx, n.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetNode after DeleteNode = %v, want ErrNotFound", err)
	}
	if ns, err := s.ListNodes(ctx, acctA); err != nil || len(ns) != 0 {
		t.Errorf("ListNodes after DeleteNode = %+v, %v", ns, err)
	}
	if err := s.DeleteNode(ctx, acctA, n.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteNode twice = %v, want ErrNotFound", err)
	}
}

func newSession(id, account, owner, target, status string, started time.Time) store.Session {
	return store.Session{
		ID:          id,
		Account:     account,
		Owner:       owner,
		Target:      target,
		Document:    "SSM-StartInteractiveCommand",
		Reason:      "investigating INC-42",
		Status:      status,
		RunAsUser:   "ubuntu",
		StartedAt:   started,
		Cols:        120,
		Rows:        40,
		RecordedSeq: 0,
		Settings:    store.SessionSettings{IdleTimeout: 20 * time.Minute, IdleCountsOutput: true, MaxDuration: 90 * time.Minute},
		ShredKey:    []byte("32 bytes of shred key for " + id)[:32],
	}
}

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	se := newSession("alice-0123456789abcdef0", acctA, "alice", "mi-00000000000000001", store.StatusConnecting, t0)
	if err := s.CreateSession(ctx, se); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	got, err := s.GetSession(ctx, se.ID)
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	checkEqual(t, "GetSession", got, se)
	if !got.Active() || !got.EndedAt.IsZero() || got.ExitCode != nil {
		t.Errorf("new session: Active %v, EndedAt %v, ExitCode %v; want active, zero, nil", got.Active(), got.EndedAt, got.ExitCode)
	}

	if err := s.CreateSession(ctx, se); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateSession(duplicate) = %v, want ErrConflict", err)
	}

	// A port session keeps where its connections go.
	port := newSession("alice-0123456789abcdef1", acctA, "alice", "mi-00000000000000001", store.StatusConnected, t0)
	port.Settings = store.SessionSettings{MaxDuration: time.Hour, Port: &store.PortTarget{Host: "db.internal", Port: 5432, AllowLinkLocal: true, Stdio: true}}
	if err := s.CreateSession(ctx, port); err != nil {
		t.Fatalf("CreateSession(port): %v", err)
	}
	if got, err := s.GetSession(ctx, port.ID); err != nil {
		t.Fatalf("GetSession(port): %v", err)
	} else {
		checkEqual(t, "GetSession(port)", got, port)
	}
	if _, err := s.GetSession(ctx, "alice-fffffffffffffffff"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession(unknown) = %v, want ErrNotFound", err)
	}

	// Shredding erases the shred key and nothing else, in the session's
	// account only.
	if err := s.ShredSession(ctx, acctB, se.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ShredSession(another account) = %v, want ErrNotFound", err)
	}
	if err := s.ShredSession(ctx, acctA, "alice-fffffffffffffffff"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ShredSession(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.ShredSession(ctx, acctA, se.ID); err != nil {
		t.Fatalf("ShredSession: %v", err)
	}
	got, err = s.GetSession(ctx, se.ID)
	if err != nil {
		t.Fatal(err)
	}
	se.ShredKey = nil
	checkEqual(t, "GetSession after ShredSession", got, se)
	if got, _ := s.GetSession(ctx, port.ID); got.ShredKey == nil {
		t.Error("ShredSession erased another session's shred key")
	}
}

func exitCode(c int) *int { return &c }

func testUpdateSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	se := newSession("alice-0123456789abcdef0", acctA, "alice", "mi-00000000000000001", store.StatusConnecting, t0)
	if err := s.CreateSession(ctx, se); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}

	// The steps run in order on one session, so each also checks that the
	// update replaced what the one before wrote: an exit code back to nil,
	// an end time back to zero.
	steps := []struct {
		name   string
		update func(*store.Session)
	}{
		{"connected", func(s *store.Session) {
			s.Status = store.StatusConnected
			s.RunAsUser = "ssm-user" // known only once the agent answers
			s.Cols, s.Rows = 200, 50
			s.RecordedSeq = 17
		}},
		{"exited 3", func(s *store.Session) {
			s.Status = store.StatusTerminated
			s.StatusReason = "ExitStatus"
			s.EndedAt = t0.Add(10 * time.Minute)
			s.ExitCode = exitCode(3)
			s.RecordedSeq = 1234
		}},
		{"exited 0", func(s *store.Session) {
			s.ExitCode = exitCode(0)
		}},
		{"exit code unknown", func(s *store.Session) {
			s.Status = store.StatusFailed
			s.StatusReason = "AgentDisconnected"
			s.ExitCode = nil
		}},
		{"largest sequence number", func(s *store.Session) {
			s.RecordedSeq = math.MaxUint64
		}},
		{"not ended after all", func(s *store.Session) {
			s.Status = store.StatusTerminating
			s.StatusReason = ""
			s.EndedAt = time.Time{}
			s.RecordedSeq = 1 << 40
		}},
	}
	for _, step := range steps {
		step.update(&se)
		if err := s.UpdateSession(ctx, se); err != nil {
			t.Fatalf("UpdateSession(%s): %v", step.name, err)
		}
		got, err := s.GetSession(ctx, se.ID)
		if err != nil {
			t.Fatalf("GetSession(%s): %v", step.name, err)
		}
		checkEqual(t, "GetSession after "+step.name, got, se)
	}

	unknown := se
	unknown.ID = "alice-fffffffffffffffff"
	if err := s.UpdateSession(ctx, unknown); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateSession(unknown) = %v, want ErrNotFound", err)
	}
	foreign := se
	foreign.Account = acctB
	foreign.Status = store.StatusTerminated
	if err := s.UpdateSession(ctx, foreign); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateSession(another account's session) = %v, want ErrNotFound", err)
	}
	if got, _ := s.GetSession(ctx, se.ID); got.Status != se.Status {
		t.Errorf("UpdateSession through another account changed the status to %q", got.Status)
	}
}

func testListSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	const node1, node2, nodeB = "mi-00000000000000001", "mi-00000000000000002", "mi-0000000000000000b"
	minute := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	sessions := []store.Session{
		newSession("s1", acctA, "alice", node1, store.StatusConnected, minute(0)),
		newSession("s2", acctA, "bob", node2, store.StatusTerminated, minute(1)),
		newSession("s3", acctA, "alice", node2, store.StatusFailed, minute(2)),
		newSession("s4", acctA, "alice", node1, store.StatusConnecting, minute(3)),
		newSession("s5", acctA, "bob", node1, store.StatusTerminating, minute(4)),
		// Another account's newest session, with the same owner name and
		// a target name of the account's own.
		newSession("b1", acctB, "alice", nodeB, store.StatusConnected, minute(10)),
	}
	// Insert out of order so that newest-first cannot come from insertion
	// order.
	for _, i := range []int{2, 0, 5, 4, 1, 3} {
		se := sessions[i]
		if !se.Active() {
			se.EndedAt = se.StartedAt.Add(30 * time.Second)
			se.ExitCode = exitCode(0)
		}
		sessions[i] = se
		if err := s.CreateSession(ctx, se); err != nil {
			t.Fatalf("CreateSession(%s): %v", se.ID, err)
		}
	}

	active, ended := true, false
	tests := []struct {
		name   string
		filter store.SessionFilter
		want   []string
	}{
		{"account", store.SessionFilter{Account: acctA}, []string{"s5", "s4", "s3", "s2", "s1"}},
		{"active only", store.SessionFilter{Account: acctA, Active: &active}, []string{"s5", "s4", "s1"}},
		{"ended only", store.SessionFilter{Account: acctA, Active: &ended}, []string{"s3", "s2"}},
		{"target", store.SessionFilter{Account: acctA, Target: node1}, []string{"s5", "s4", "s1"}},
		{"owner", store.SessionFilter{Account: acctA, Owner: "alice"}, []string{"s4", "s3", "s1"}},
		{"since is inclusive", store.SessionFilter{Account: acctA, Since: minute(2)}, []string{"s5", "s4", "s3"}},
		{"limit", store.SessionFilter{Account: acctA, Limit: 2}, []string{"s5", "s4"}},
		{"limit above count", store.SessionFilter{Account: acctA, Limit: 100}, []string{"s5", "s4", "s3", "s2", "s1"}},
		{"owner, target and active", store.SessionFilter{Account: acctA, Owner: "alice", Target: node1, Active: &active}, []string{"s4", "s1"}},
		{"owner and limit", store.SessionFilter{Account: acctA, Owner: "bob", Limit: 1}, []string{"s5"}},
		{"other account", store.SessionFilter{Account: acctB}, []string{"b1"}},
		{"owner in other account", store.SessionFilter{Account: acctB, Owner: "alice"}, []string{"b1"}},
		{"other account's target", store.SessionFilter{Account: acctA, Target: nodeB}, nil},
		{"unknown account", store.SessionFilter{Account: acctUnknown}, nil},
		{"no match", store.SessionFilter{Account: acctA, Owner: "mallory"}, nil},
		{"zero filter matches all", store.SessionFilter{}, []string{"b1", "s5", "s4", "s3", "s2", "s1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListSessions(ctx, tt.filter)
			if err != nil {
				t.Fatalf("ListSessions: %v", err)
			}
			if gotIDs := ids(got, func(s store.Session) string { return s.ID }); !slices.Equal(gotIDs, tt.want) {
				t.Errorf("ListSessions = %q, want %q", gotIDs, tt.want)
			}
		})
	}

	// Listed sessions are whole records, not just ids.
	got, err := s.ListSessions(ctx, store.SessionFilter{Account: acctA, Active: &ended})
	if err != nil {
		t.Fatalf("ListSessions: %v", err)
	}
	checkList(t, "ListSessions(ended only)", got, []store.Session{sessions[2], sessions[1]})
}

func ids[T any](xs []T, id func(T) string) []string {
	var out []string
	for _, x := range xs {
		out = append(out, id(x))
	}
	return out
}

func sortBy[T any](xs []T, key func(T) string) {
	slices.SortFunc(xs, func(a, b T) int { return strings.Compare(key(a), key(b)) })
}

func checkList[T any](t *testing.T, what string, got, want []T) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s has %d records, want %d: %+v", what, len(got), len(want), got)
		return
	}
	for i := range got {
		checkEqual(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i])
	}
}

// checkEqual reports the fields in which got differs from want, a record
// struct, after normalize.
func checkEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	got, want = normalize(got), normalize(want)
	if reflect.DeepEqual(got, want) {
		return
	}
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	var diffs []string
	for i := range gv.NumField() {
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !reflect.DeepEqual(g, w) {
			diffs = append(diffs, fmt.Sprintf("%s = %s, want %s", gv.Type().Field(i).Name, show(g), show(w)))
		}
	}
	t.Errorf("%s: %s", what, strings.Join(diffs, "; "))
}

// normalize returns the record v with times in UTC (a key's versions'
// too) and empty maps and version lists nil, the differences between
// implementations the suite allows.
func normalize[T any](v T) T {
	rv := reflect.ValueOf(&v).Elem()
	for i := range rv.NumField() {
		f := rv.Field(i)
		switch x := f.Interface().(type) {
		case time.Time:
			f.Set(reflect.ValueOf(x.UTC()))
		case map[string]string:
			if len(x) == 0 {
				f.Set(reflect.Zero(f.Type()))
			}
		case []store.KeyVersion:
			if len(x) == 0 {
				f.Set(reflect.Zero(f.Type()))
				break
			}
			vs := make([]store.KeyVersion, len(x)) // a copy: v shares the caller's
			for i, kv := range x {
				vs[i] = normalize(kv)
			}
			f.Set(reflect.ValueOf(vs))
		}
	}
	return v
}

func show(v any) string {
	switch x := v.(type) {
	case *int:
		if x == nil {
			return "nil"
		}
		return fmt.Sprintf("&%d", *x)
	case time.Time:
		if x.IsZero() {
			return "zero time"
		}
		return x.Format(time.RFC3339Nano)
	case time.Duration:
		return x.String()
	case []store.KeyVersion:
		var vs []string
		for _, kv := range x {
			vs = append(vs, fmt.Sprintf("{%d %q %s}", kv.Version, kv.Wrapped, show(kv.CreatedAt)))
		}
		return "[" + strings.Join(vs, " ") + "]"
	}
	return fmt.Sprintf("%#v", v)
}

func testDocuments(t *testing.T, s store.Store) {
	ctx := t.Context()
	put := func(account, name, content string) store.Document {
		t.Helper()
		d, err := s.PutDocument(ctx, store.Document{Account: account, Name: name, Content: content, SessionType: "Port", Description: "d", CreatedBy: "alice", CreatedAt: t0})
		if err != nil {
			t.Fatalf("PutDocument(%s): %v", name, err)
		}
		return d
	}
	if d := put(acctA, "Fwd", "v1"); d.Version != 1 {
		t.Fatalf("first version = %d, want 1", d.Version)
	}
	if d := put(acctA, "Fwd", "v2"); d.Version != 2 {
		t.Fatalf("second version = %d, want 2", d.Version)
	}
	put(acctA, "Another", "x")
	put(acctB, "Fwd", "other account")

	latest, err := s.GetDocument(ctx, acctA, "Fwd", 0)
	if err != nil || latest.Version != 2 || latest.Content != "v2" || latest.CreatedBy != "alice" || !latest.CreatedAt.Equal(t0) {
		t.Fatalf("GetDocument(latest) = %+v, %v", latest, err)
	}
	v1, err := s.GetDocument(ctx, acctA, "Fwd", 1)
	if err != nil || v1.Content != "v1" {
		t.Fatalf("GetDocument(v1) = %+v, %v", v1, err)
	}
	if _, err := s.GetDocument(ctx, acctA, "Fwd", 3); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDocument(v3) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetDocument(ctx, acctA, "Missing", 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDocument(missing) = %v, want ErrNotFound", err)
	}
	list, err := s.ListDocuments(ctx, acctA)
	if err != nil || len(list) != 2 || list[0].Name != "Another" || list[1].Name != "Fwd" || list[1].Version != 2 {
		t.Fatalf("ListDocuments = %+v, %v; want Another and Fwd v2", list, err)
	}
	if err := s.DeleteDocument(ctx, acctA, "Fwd"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDocument(ctx, acctA, "Fwd", 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete: %v, want ErrNotFound", err)
	}
	if err := s.DeleteDocument(ctx, acctA, "Fwd"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete twice: %v, want ErrNotFound", err)
	}
	if d, err := s.GetDocument(ctx, acctB, "Fwd", 0); err != nil || d.Content != "other account" {
		t.Errorf("another account's document was touched: %+v %v", d, err)
	}
	// Versions continue after a deletion and recreation start again at 1.
	if d := put(acctA, "Fwd", "again"); d.Version != 1 {
		t.Errorf("recreated document version = %d, want 1", d.Version)
	}
}

func testDeliveries(t *testing.T, s store.Store) {
	ctx := t.Context()
	mk := func(account, session, dest, artifact string) store.Delivery {
		return store.Delivery{Account: account, SessionID: session, Destination: dest, Artifact: artifact,
			Target: `{"bucket":"logs"}`, Status: store.DeliveryWaiting, CreatedAt: t0, UpdatedAt: t0}
	}
	a1, a2 := mk(acctA, "alice-1", "s3", "cast"), mk(acctA, "alice-1", "s3", "log")
	b1 := mk(acctB, "bob-1", "cloudwatch", "log")
	for _, ds := range [][]store.Delivery{{a1, a2}, {b1}} {
		if err := s.CreateDeliveries(ctx, ds); err != nil {
			t.Fatalf("CreateDeliveries: %v", err)
		}
	}
	// All or none: the new one must not land when its sibling conflicts.
	if err := s.CreateDeliveries(ctx, []store.Delivery{mk(acctA, "alice-1", "cloudwatch", "log"), a1}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateDeliveries of an existing delivery = %v, want ErrConflict", err)
	}
	got, err := s.ListDeliveries(ctx, acctA, "alice-1")
	if err != nil {
		t.Fatal(err)
	}
	checkList(t, "deliveries of alice-1", got, []store.Delivery{a1, a2})

	if cs, err := s.CountDeliveries(ctx, "s3"); err != nil || len(cs) != 1 || cs[0] != (store.DeliveryCount{Account: acctA, Status: store.DeliveryWaiting, N: 2, Oldest: cs[0].Oldest}) || !cs[0].Oldest.Equal(t0) {
		t.Fatalf("CountDeliveries(s3) = %+v, %v; want 2 waiting of %s since %v", cs, err, acctA, t0)
	}
	if cs, err := s.CountDeliveries(ctx, "archive"); err != nil || len(cs) != 0 {
		t.Fatalf("CountDeliveries(archive) = %+v, %v; want none", cs, err)
	}
	// Waiting deliveries are never due; released ones are.
	if due, err := s.DueDeliveries(ctx, t0.Add(time.Hour), 10); err != nil || len(due) != 0 {
		t.Fatalf("DueDeliveries before release = %v, %v", due, err)
	}
	if n, oldest, err := s.DeliveryBacklog(ctx); err != nil || n != 3 || !oldest.Equal(t0) {
		t.Fatalf("DeliveryBacklog = %d, %v, %v; want 3, %v", n, oldest, err, t0)
	}
	waiting, err := s.WaitingDeliveries(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	checkList(t, "waiting deliveries", waiting, []store.Delivery{a1, a2, b1})
	t1 := t0.Add(time.Minute)
	if err := s.ReleaseDeliveries(ctx, acctA, "alice-1", t1); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseDeliveries(ctx, acctB, "alice-1", t1); err != nil {
		t.Fatal(err) // another account's session of that name: nothing to release
	}
	if due, err := s.DueDeliveries(ctx, t0, 10); err != nil || len(due) != 0 {
		t.Fatalf("DueDeliveries before their time = %v, %v", due, err)
	}
	due, err := s.DueDeliveries(ctx, t1, 10)
	if err != nil {
		t.Fatal(err)
	}
	a1.Status, a1.NextAttempt, a1.UpdatedAt = store.DeliveryPending, t1, t1
	a2.Status, a2.NextAttempt, a2.UpdatedAt = store.DeliveryPending, t1, t1
	checkList(t, "due deliveries", due, []store.Delivery{a1, a2})
	if waiting, _ := s.WaitingDeliveries(ctx, 10); len(waiting) != 1 || waiting[0].SessionID != "bob-1" {
		t.Fatalf("waiting after release = %v, want bob-1's only", waiting)
	}
	if due, _ := s.DueDeliveries(ctx, t1, 1); len(due) != 1 {
		t.Fatalf("DueDeliveries with limit 1 returned %d", len(due))
	}

	// A failing delivery is due again at its next attempt; a delivered one
	// never.
	a1.Status, a1.Attempts, a1.LastError, a1.NextAttempt, a1.UpdatedAt = store.DeliveryFailing, 1, "bucket unreachable", t1.Add(time.Minute), t1
	a2.Status, a2.Attempts, a2.Location, a2.Bytes, a2.Cursor, a2.UpdatedAt = store.DeliveryDelivered, 1, "s3://logs/alice-1.log", 1234, 1<<40, t1
	for _, d := range []store.Delivery{a1, a2} {
		if err := s.UpdateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if due, _ := s.DueDeliveries(ctx, t1.Add(30*time.Second), 10); len(due) != 0 {
		t.Fatalf("due before the retry: %v", due)
	}
	due, err = s.DueDeliveries(ctx, t1.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	checkList(t, "due retries", due, []store.Delivery{a1})
	got, _ = s.ListDeliveries(ctx, acctA, "alice-1")
	checkList(t, "deliveries after updates", got, []store.Delivery{a1, a2})
	if n, _, err := s.DeliveryBacklog(ctx); err != nil || n != 2 {
		t.Fatalf("DeliveryBacklog = %d, %v; want 2", n, err)
	}
	// Both sessions still owe something (alice-1 its cast, bob-1 its log).
	owed, err := s.OwedSessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkList(t, "owed sessions", owed, []store.SessionRef{{Account: acctA, SessionID: "alice-1"}, {Account: acctB, SessionID: "bob-1"}})
	a1.Status = store.DeliveryDelivered
	if err := s.UpdateDelivery(ctx, a1); err != nil {
		t.Fatal(err)
	}
	owed, _ = s.OwedSessions(ctx)
	checkList(t, "owed sessions once alice-1 has delivered everything", owed, []store.SessionRef{{Account: acctB, SessionID: "bob-1"}})
	if owed, _ = s.OwedSessions(ctx, "cloudwatch"); len(owed) != 0 {
		t.Errorf("owed sessions except to cloudwatch = %+v, want none (bob-1 owes cloudwatch only)", owed)
	}
	if err := s.UpdateDelivery(ctx, mk(acctB, "alice-1", "s3", "log")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateDelivery of a missing delivery = %v, want ErrNotFound", err)
	}

	// Late output reopens what was released, keeping what each delivery
	// knows (a stream's cursor, where it went); a session that has not
	// ended keeps waiting.
	t2 := t1.Add(time.Hour)
	for _, sess := range []store.SessionRef{{Account: acctA, SessionID: "alice-1"}, {Account: acctB, SessionID: "bob-1"}} {
		if err := s.ReopenDeliveries(ctx, sess.Account, sess.SessionID, t2); err != nil {
			t.Fatal(err)
		}
	}
	a1.Status, a1.NextAttempt, a1.UpdatedAt = store.DeliveryPending, t2, t2
	a2.Status, a2.NextAttempt, a2.UpdatedAt = store.DeliveryPending, t2, t2
	got, _ = s.ListDeliveries(ctx, acctA, "alice-1")
	checkList(t, "deliveries after reopening", got, []store.Delivery{a1, a2})
	if waiting, _ := s.WaitingDeliveries(ctx, 10); len(waiting) != 1 || waiting[0].SessionID != "bob-1" {
		t.Fatalf("waiting after reopening = %v, want bob-1's still waiting", waiting)
	}
}

// Key ids, UUIDs as in AWS KMS.
const (
	keyID1       = "1234abcd-12ab-34cd-56ef-000000000001"
	keyID2       = "1234abcd-12ab-34cd-56ef-000000000002"
	keyID3       = "1234abcd-12ab-34cd-56ef-000000000003"
	keyIDUnknown = "1234abcd-12ab-34cd-56ef-ffffffffffff"
)

const keyPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow",` +
	`"Principal":{"AWS":"arn:aws:iam::000000000001:root"},"Action":"kms:*","Resource":"*"}]}`

func newKey(account, id string) store.Key {
	return store.Key{
		Account:     account,
		ID:          id,
		Description: "session logs",
		State:       store.KeyEnabled,
		Policy:      keyPolicy,
		CreatedAt:   t0,
	}
}

// keyVersion returns version n of a key, with material that is not text.
func keyVersion(n int, created time.Time) store.KeyVersion {
	return store.KeyVersion{
		Version:   n,
		Wrapped:   fmt.Appendf([]byte{0, 0xff}, "wrapped material %d", n),
		CreatedAt: created,
	}
}

func createKey(t *testing.T, s store.Store, k store.Key) {
	t.Helper()
	if err := s.CreateKey(t.Context(), k); err != nil {
		t.Fatalf("CreateKey(%s/%s): %v", k.Account, k.ID, err)
	}
}

// checkKey checks that the store holds want.
func checkKey(t *testing.T, s store.Store, what string, want store.Key) {
	t.Helper()
	got, err := s.GetKey(t.Context(), want.Account, want.ID)
	if err != nil {
		t.Fatalf("%s: GetKey(%s/%s): %v", what, want.Account, want.ID, err)
	}
	checkEqual(t, what, got, want)
}

func checkKeyMissing(t *testing.T, s store.Store, what, account, id string) {
	t.Helper()
	if k, err := s.GetKey(t.Context(), account, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: GetKey(%s/%s) = %+v, %v; want ErrNotFound", what, account, id, k, err)
	}
}

func testKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	day := 24 * time.Hour
	// Each key fills the fields differently.
	rotating := newKey(acctA, keyID1)
	rotating.RotationPeriod = 365*day + time.Microsecond
	rotating.NextRotation = t0.Add(365 * day)
	rotating.CreatedAt = t0.Add(2 * time.Minute)
	rotating.Versions = []store.KeyVersion{keyVersion(1, t0), keyVersion(2, t0.Add(time.Hour))}
	pending := newKey(acctA, keyID2)
	pending.State = store.KeyPendingDeletion
	pending.DeletionDate = t0.Add(7 * day)
	pending.Versions = []store.KeyVersion{keyVersion(1, t0)}
	bare := newKey(acctA, keyID3)
	bare.State = store.KeyDisabled
	bare.Description = ""
	bare.Policy = ""
	// Every time zero, and the id of one of the other account's keys.
	zero := store.Key{
		Account:  acctB,
		ID:       keyID1,
		State:    store.KeyEnabled,
		Versions: []store.KeyVersion{{Version: 1, Wrapped: []byte{0}}},
	}
	// Created out of order, so that the list order cannot come from it.
	for _, k := range []store.Key{rotating, bare, pending, zero} {
		createKey(t, s, k)
	}

	for _, tt := range []struct {
		name string
		key  store.Key
	}{
		{"with versions and rotation", rotating},
		{"pending deletion", pending},
		{"without versions", bare},
		{"zero times, in another account", zero},
	} {
		checkKey(t, s, "GetKey("+tt.name+")", tt.key)
	}

	dup := newKey(acctA, keyID1)
	dup.Description = "different"
	dup.Versions = []store.KeyVersion{keyVersion(1, t0.Add(time.Minute))}
	if err := s.CreateKey(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateKey(duplicate) = %v, want ErrConflict", err)
	}
	checkKey(t, s, "GetKey after duplicate CreateKey", rotating)

	// Versions are numbered as AddKeyVersion numbers them.
	for _, tt := range []struct {
		name     string
		versions []int
	}{
		{"starting at 2", []int{2}},
		{"starting at 0", []int{0, 1}},
		{"repeated", []int{1, 1}},
		{"with a gap", []int{1, 3}},
		{"out of order", []int{2, 1}},
	} {
		k := newKey(acctA, keyIDUnknown)
		for _, n := range tt.versions {
			k.Versions = append(k.Versions, keyVersion(n, t0))
		}
		if err := s.CreateKey(ctx, k); err == nil {
			t.Errorf("CreateKey(versions %s) succeeded, want an error", tt.name)
		}
		checkKeyMissing(t, s, "after CreateKey(versions "+tt.name+")", acctA, keyIDUnknown)
	}

	for _, tt := range []struct{ name, account, id string }{
		{"unknown key", acctA, keyIDUnknown},
		{"key of another account", acctB, keyID2},
		{"unknown account", acctUnknown, keyID1},
	} {
		checkKeyMissing(t, s, tt.name, tt.account, tt.id)
	}

	for _, tt := range []struct {
		account string
		want    []store.Key
	}{
		// By creation time, then id.
		{acctA, []store.Key{pending, bare, rotating}},
		{acctB, []store.Key{zero}},
		{acctUnknown, nil},
	} {
		got, err := s.ListKeys(ctx, tt.account)
		if err != nil {
			t.Fatalf("ListKeys(%s): %v", tt.account, err)
		}
		checkList(t, "ListKeys("+tt.account+")", got, tt.want)
	}
}

func testUpdateKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	day := 24 * time.Hour
	k := newKey(acctA, keyID1)
	k.Versions = []store.KeyVersion{keyVersion(1, t0)}
	createKey(t, s, k)
	other := newKey(acctB, keyID1)
	createKey(t, s, other)

	// The steps run in order on one key, so each also checks that the
	// update replaced what the one before wrote.
	steps := []struct {
		name   string
		update func(*store.Key)
	}{
		{"disable", func(k *store.Key) { k.State = store.KeyDisabled }},
		{"schedule deletion", func(k *store.Key) {
			k.State = store.KeyPendingDeletion
			k.DeletionDate = t0.Add(30 * day)
		}},
		{"cancel deletion", func(k *store.Key) {
			k.State = store.KeyDisabled
			k.DeletionDate = time.Time{}
		}},
		{"enable rotation", func(k *store.Key) {
			k.State = store.KeyEnabled
			k.RotationPeriod = 90*day + time.Microsecond
			k.NextRotation = t0.Add(90 * day)
		}},
		{"new description and policy", func(k *store.Key) {
			k.Description = "ünïcödé 🔑"
			k.Policy = `{"Version":"2012-10-17","Statement":[]}`
		}},
		{"disable rotation", func(k *store.Key) {
			k.RotationPeriod = 0
			k.NextRotation = time.Time{}
		}},
	}
	for _, step := range steps {
		step.update(&k)
		// What UpdateKey does not change, given other values.
		u := k
		u.CreatedAt = t0.Add(time.Hour)
		u.Versions = nil
		if err := s.UpdateKey(ctx, u); err != nil {
			t.Fatalf("UpdateKey(%s): %v", step.name, err)
		}
		checkKey(t, s, "GetKey after "+step.name, k)
	}

	unknown := k
	unknown.ID = keyIDUnknown
	if err := s.UpdateKey(ctx, unknown); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateKey(unknown) = %v, want ErrNotFound", err)
	}
	checkKeyMissing(t, s, "after UpdateKey(unknown)", acctA, keyIDUnknown)
	foreign := newKey(acctB, keyID2)
	foreign.State = store.KeyDisabled
	createKey(t, s, newKey(acctA, keyID2))
	if err := s.UpdateKey(ctx, foreign); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateKey(another account's key) = %v, want ErrNotFound", err)
	}
	checkKey(t, s, "GetKey after UpdateKey through another account", newKey(acctA, keyID2))
	checkKey(t, s, "GetKey of the other account's key of the same id", other)
}

func testAddKeyVersion(t *testing.T, s store.Store) {
	ctx := t.Context()
	day := 24 * time.Hour
	k := newKey(acctA, keyID1)
	k.RotationPeriod = 90 * day
	k.NextRotation = t0.Add(time.Minute)
	createKey(t, s, k) // without versions
	// Another account's key of the same id, with versions of its own.
	other := newKey(acctB, keyID1)
	other.Versions = []store.KeyVersion{keyVersion(1, t0), keyVersion(2, t0), keyVersion(3, t0)}
	createKey(t, s, other)

	// The steps run in order on one key; a refused one leaves it as it
	// was, next rotation included.
	steps := []struct {
		name    string
		version store.KeyVersion
		next    time.Time
		wantErr error
	}{
		{"version 2 first", keyVersion(2, t0), t0.Add(day), store.ErrConflict},
		{"version 0", keyVersion(0, t0), t0.Add(day), store.ErrConflict},
		{"first version", keyVersion(1, t0.Add(time.Minute)), t0.Add(90 * day), nil},
		{"version 1 again", keyVersion(1, t0.Add(2*time.Minute)), t0.Add(day), store.ErrConflict},
		{"skipping a version", keyVersion(3, t0.Add(2*time.Minute)), t0.Add(day), store.ErrConflict},
		{"second version", keyVersion(2, t0.Add(90*day)), t0.Add(180 * day), nil},
		{"no next rotation", keyVersion(3, t0.Add(100*day)), time.Time{}, nil},
		{"rotation again", keyVersion(4, t0.Add(101*day)), t0.Add(191*day + time.Microsecond), nil},
	}
	for _, step := range steps {
		err := s.AddKeyVersion(ctx, acctA, keyID1, step.version, step.next)
		if !errors.Is(err, step.wantErr) {
			t.Fatalf("AddKeyVersion(%s) = %v, want %v", step.name, err, step.wantErr)
		}
		if err == nil {
			k.Versions = append(k.Versions, step.version)
			k.NextRotation = step.next
		}
		checkKey(t, s, "GetKey after AddKeyVersion("+step.name+")", k)
	}

	for _, tt := range []struct{ name, account, id string }{
		{"unknown key", acctA, keyIDUnknown},
		{"unknown account", acctUnknown, keyID1},
	} {
		if err := s.AddKeyVersion(ctx, tt.account, tt.id, keyVersion(1, t0), t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AddKeyVersion(%s) = %v, want ErrNotFound", tt.name, err)
		}
		checkKeyMissing(t, s, "after AddKeyVersion("+tt.name+")", tt.account, tt.id)
	}
	// Numbering is per key: version 4 of acctB's key follows its own 3.
	if err := s.AddKeyVersion(ctx, acctB, keyID1, keyVersion(5, t0), t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("AddKeyVersion(version 5 to the other account's key at 3) = %v, want ErrConflict", err)
	}
	if err := s.AddKeyVersion(ctx, acctB, keyID1, keyVersion(4, t0), time.Time{}); err != nil {
		t.Fatalf("AddKeyVersion(version 4 to the other account's key): %v", err)
	}
	other.Versions = append(other.Versions, keyVersion(4, t0))
	checkKey(t, s, "GetKey of the other account's key", other)
	checkKey(t, s, "GetKey after adding to the other account's key", k)
}

func testAddKeyVersionConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const tries = 16
	k := newKey(acctA, keyID1)
	k.Versions = []store.KeyVersion{keyVersion(1, t0)}
	createKey(t, s, k)

	// Every rotation tries to add version 2, with material of its own.
	versions := make([]store.KeyVersion, tries)
	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range tries {
		versions[i] = store.KeyVersion{Version: 2, Wrapped: fmt.Appendf(nil, "material of rotation %d", i), CreatedAt: t0}
		wg.Go(func() {
			errs[i] = s.AddKeyVersion(ctx, acctA, keyID1, versions[i], t0.Add(time.Duration(i)*time.Hour))
		})
	}
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("AddKeyVersion #%d and #%d both added version 2", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("AddKeyVersion #%d = %v, want nil or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no concurrent AddKeyVersion succeeded")
	}
	// The key holds the winner's version and next rotation.
	k.Versions = append(k.Versions, versions[winner])
	k.NextRotation = t0.Add(time.Duration(winner) * time.Hour)
	checkKey(t, s, "GetKey after concurrent AddKeyVersion", k)
}

func testDueKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := t0.Add(24 * time.Hour)
	past, future := now.Add(-time.Minute), now.Add(time.Microsecond)
	tests := []struct {
		name           string
		account, state string
		nextRotation   time.Time
		deletionDate   time.Time
		due            bool
	}{
		{"rotation due", acctA, store.KeyEnabled, past, time.Time{}, true},
		{"rotation due now", acctA, store.KeyEnabled, now, time.Time{}, true},
		{"rotation not yet due", acctA, store.KeyEnabled, future, time.Time{}, false},
		{"no rotation", acctA, store.KeyEnabled, time.Time{}, time.Time{}, false},
		{"disabled with rotation due", acctA, store.KeyDisabled, past, time.Time{}, false},
		{"deletion due", acctA, store.KeyPendingDeletion, time.Time{}, past, true},
		{"deletion due now", acctA, store.KeyPendingDeletion, time.Time{}, now, true},
		{"deletion not yet due", acctA, store.KeyPendingDeletion, time.Time{}, future, false},
		{"pending deletion with rotation due", acctA, store.KeyPendingDeletion, past, future, false},
		{"enabled with a past deletion date", acctA, store.KeyEnabled, time.Time{}, past, false},
		{"another account's rotation due", acctB, store.KeyEnabled, past, time.Time{}, true},
		{"another account's deletion due", acctB, store.KeyPendingDeletion, time.Time{}, past, true},
	}
	keys := make([]store.Key, len(tests))
	var want []store.Key
	for i, tt := range tests {
		k := newKey(tt.account, fmt.Sprintf("%08x-0000-4000-8000-000000000000", i+1))
		k.Description = tt.name
		k.State = tt.state
		k.NextRotation = tt.nextRotation
		k.DeletionDate = tt.deletionDate
		if !tt.nextRotation.IsZero() {
			k.RotationPeriod = 24 * time.Hour
		}
		k.Versions = []store.KeyVersion{keyVersion(1, t0)}
		createKey(t, s, k)
		keys[i] = k
		if tt.due {
			want = append(want, k)
		}
	}

	got, err := s.DueKeys(ctx, now)
	if err != nil {
		t.Fatalf("DueKeys: %v", err)
	}
	key := func(k store.Key) string { return k.Account + "/" + k.ID }
	gotIDs := ids(got, key)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if returned := slices.Contains(gotIDs, key(keys[i])); returned != tt.due {
				t.Errorf("DueKeys returned the key: %v, want %v", returned, tt.due)
			}
		})
	}
	// Due keys are whole records, versions included.
	sortBy(got, key)
	checkList(t, "DueKeys", got, want)

	if got, err := s.DueKeys(ctx, t0); err != nil || len(got) != 0 {
		t.Errorf("DueKeys(before anything is due) = %q, %v; want none", ids(got, key), err)
	}
}

func testDestroyKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	doomed := newKey(acctA, keyID1)
	doomed.Versions = []store.KeyVersion{keyVersion(1, t0), keyVersion(2, t0.Add(time.Hour))}
	kept := newKey(acctA, keyID2)
	kept.Versions = []store.KeyVersion{keyVersion(1, t0)}
	sameID := newKey(acctB, keyID1) // another account's key of the doomed key's id
	sameID.Versions = []store.KeyVersion{keyVersion(1, t0)}
	for _, k := range []store.Key{doomed, kept, sameID} {
		createKey(t, s, k)
	}
	aliases := []store.KeyAlias{
		{Account: acctA, Name: "alias/doomed", KeyID: keyID1, CreatedAt: t0},
		{Account: acctA, Name: "alias/doomed-too", KeyID: keyID1, CreatedAt: t0},
		{Account: acctA, Name: "alias/kept", KeyID: keyID2, CreatedAt: t0},
		{Account: acctB, Name: "alias/doomed", KeyID: keyID1, CreatedAt: t0},
	}
	for _, a := range aliases {
		if err := s.PutAlias(ctx, a); err != nil {
			t.Fatalf("PutAlias(%s/%s): %v", a.Account, a.Name, err)
		}
	}

	// Another account cannot destroy a key.
	if err := s.DestroyKey(ctx, acctB, keyID2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DestroyKey(another account's key) = %v, want ErrNotFound", err)
	}
	checkKey(t, s, "GetKey after DestroyKey through another account", kept)

	if err := s.DestroyKey(ctx, acctA, keyID1); err != nil {
		t.Fatalf("DestroyKey: %v", err)
	}
	checkKeyMissing(t, s, "after DestroyKey", acctA, keyID1)
	keys, err := s.ListKeys(ctx, acctA)
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	checkList(t, "ListKeys after DestroyKey", keys, []store.Key{kept})
	for _, name := range []string{"alias/doomed", "alias/doomed-too"} {
		if a, err := s.GetAlias(ctx, acctA, name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetAlias(%s) of a destroyed key = %+v, %v; want ErrNotFound", name, a, err)
		}
	}
	got, err := s.ListAliases(ctx, acctA)
	if err != nil {
		t.Fatalf("ListAliases: %v", err)
	}
	checkList(t, "ListAliases after DestroyKey", got, aliases[2:3])
	// The other account's key of that id, and its alias, stay.
	checkKey(t, s, "GetKey of the other account's key of the destroyed id", sameID)
	got, err = s.ListAliases(ctx, acctB)
	if err != nil {
		t.Fatalf("ListAliases: %v", err)
	}
	checkList(t, "ListAliases of the other account", got, aliases[3:])

	if err := s.DestroyKey(ctx, acctA, keyID1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DestroyKey(destroyed) = %v, want ErrNotFound", err)
	}
	if err := s.AddKeyVersion(ctx, acctA, keyID1, keyVersion(3, t0), t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddKeyVersion(destroyed key) = %v, want ErrNotFound", err)
	}

	// A key made again under the id starts afresh: none of the destroyed
	// versions come back with it.
	again := newKey(acctA, keyID1)
	again.CreatedAt = t0.Add(time.Hour)
	createKey(t, s, again)
	checkKey(t, s, "GetKey of a key made again under a destroyed id", again)
	v := keyVersion(1, t0.Add(time.Hour))
	v.Wrapped = []byte("new material")
	if err := s.AddKeyVersion(ctx, acctA, keyID1, v, time.Time{}); err != nil {
		t.Fatalf("AddKeyVersion(1) to the new key: %v", err)
	}
	again.Versions = []store.KeyVersion{v}
	checkKey(t, s, "GetKey of the new key after AddKeyVersion", again)
	if a, err := s.GetAlias(ctx, acctA, "alias/doomed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAlias(alias/doomed) after the id was made again = %+v, %v; want ErrNotFound", a, err)
	}
}

func testAliases(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, k := range []store.Key{newKey(acctA, keyID1), newKey(acctA, keyID2), newKey(acctB, keyID3)} {
		createKey(t, s, k)
	}
	put := func(a store.KeyAlias) {
		t.Helper()
		if err := s.PutAlias(ctx, a); err != nil {
			t.Fatalf("PutAlias(%s/%s -> %s): %v", a.Account, a.Name, a.KeyID, err)
		}
	}
	checkAlias := func(what string, want store.KeyAlias) {
		t.Helper()
		got, err := s.GetAlias(ctx, want.Account, want.Name)
		if err != nil {
			t.Fatalf("%s: GetAlias(%s/%s): %v", what, want.Account, want.Name, err)
		}
		checkEqual(t, what, got, want)
	}

	// Put out of order, so that the list order cannot come from it.
	logs := store.KeyAlias{Account: acctA, Name: "alias/session-manager-logs", KeyID: keyID1, CreatedAt: t0}
	apps := store.KeyAlias{Account: acctA, Name: "alias/apps", KeyID: keyID2, CreatedAt: t0.Add(time.Minute)}
	logsB := store.KeyAlias{Account: acctB, Name: logs.Name, KeyID: keyID3, CreatedAt: t0}
	for _, a := range []store.KeyAlias{logs, apps, logsB} {
		put(a)
	}
	checkAlias("GetAlias", logs)
	checkAlias("GetAlias(same name in another account)", logsB)

	// Pointing an alias at another key keeps when it was created.
	repointed := logs
	repointed.KeyID = keyID2
	repointed.CreatedAt = t0.Add(time.Hour)
	put(repointed)
	logs.KeyID = keyID2
	checkAlias("GetAlias after pointing it at another key", logs)

	for _, tt := range []struct {
		name  string
		alias store.KeyAlias
	}{
		{"new alias for a missing key", store.KeyAlias{Account: acctA, Name: "alias/new", KeyID: keyIDUnknown, CreatedAt: t0}},
		{"new alias for another account's key", store.KeyAlias{Account: acctA, Name: "alias/new", KeyID: keyID3, CreatedAt: t0}},
		{"alias pointed at a missing key", store.KeyAlias{Account: acctA, Name: logs.Name, KeyID: keyIDUnknown, CreatedAt: t0}},
		{"alias pointed at another account's key", store.KeyAlias{Account: acctA, Name: logs.Name, KeyID: keyID3, CreatedAt: t0}},
		{"alias in an unknown account", store.KeyAlias{Account: acctUnknown, Name: "alias/new", KeyID: keyID1, CreatedAt: t0}},
	} {
		if err := s.PutAlias(ctx, tt.alias); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PutAlias(%s) = %v, want ErrNotFound", tt.name, err)
		}
	}
	checkAlias("GetAlias after refused PutAlias", logs)

	for _, tt := range []struct{ name, account, alias string }{
		{"unknown alias", acctA, "alias/unknown"},
		{"alias of another account", acctB, apps.Name},
		{"refused alias", acctA, "alias/new"},
		{"unknown account", acctUnknown, logs.Name},
	} {
		if a, err := s.GetAlias(ctx, tt.account, tt.alias); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetAlias(%s) = %+v, %v; want ErrNotFound", tt.name, a, err)
		}
	}

	for _, tt := range []struct {
		account string
		want    []store.KeyAlias
	}{
		{acctA, []store.KeyAlias{apps, logs}},
		{acctB, []store.KeyAlias{logsB}},
		{acctUnknown, nil},
	} {
		got, err := s.ListAliases(ctx, tt.account)
		if err != nil {
			t.Fatalf("ListAliases(%s): %v", tt.account, err)
		}
		checkList(t, "ListAliases("+tt.account+")", got, tt.want)
	}

	if err := s.DeleteAlias(ctx, acctB, apps.Name); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteAlias(another account's alias) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAlias(ctx, acctA, apps.Name); err != nil {
		t.Fatalf("DeleteAlias: %v", err)
	}
	if a, err := s.GetAlias(ctx, acctA, apps.Name); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAlias after DeleteAlias = %+v, %v; want ErrNotFound", a, err)
	}
	if err := s.DeleteAlias(ctx, acctA, apps.Name); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteAlias(deleted) = %v, want ErrNotFound", err)
	}
	// The key outlives its alias.
	checkKey(t, s, "GetKey after deleting its alias", newKey(acctA, keyID2))
	got, err := s.ListAliases(ctx, acctA)
	if err != nil {
		t.Fatalf("ListAliases: %v", err)
	}
	checkList(t, "ListAliases after DeleteAlias", got, []store.KeyAlias{logs})
	checkAlias("GetAlias(same name in another account) after DeleteAlias", logsB)
}

func testRootKeyCheck(t *testing.T, s store.Store) {
	ctx := t.Context()
	if got, err := s.RootKeyCheck(ctx); err != nil || got != nil {
		t.Fatalf("RootKeyCheck of a new store = %q, %v; want nil, nil", got, err)
	}
	// An empty check would read back as none.
	if err := s.SetRootKeyCheck(ctx, nil); err == nil {
		t.Errorf("SetRootKeyCheck(nil) succeeded, want an error")
	}
	if got, err := s.RootKeyCheck(ctx); err != nil || got != nil {
		t.Fatalf("RootKeyCheck after SetRootKeyCheck(nil) = %q, %v; want nil, nil", got, err)
	}

	check := []byte("root key check\x00\xff")
	if err := s.SetRootKeyCheck(ctx, check); err != nil {
		t.Fatalf("SetRootKeyCheck: %v", err)
	}
	if got, err := s.RootKeyCheck(ctx); err != nil || !slices.Equal(got, check) {
		t.Fatalf("RootKeyCheck = %q, %v; want %q", got, err, check)
	}
	for _, tt := range []struct {
		name  string
		check []byte
	}{
		{"another check", []byte("another root key")},
		{"the same check", check},
	} {
		if err := s.SetRootKeyCheck(ctx, tt.check); !errors.Is(err, store.ErrConflict) {
			t.Errorf("SetRootKeyCheck(%s) = %v, want ErrConflict", tt.name, err)
		}
	}
	if got, err := s.RootKeyCheck(ctx); err != nil || !slices.Equal(got, check) {
		t.Errorf("RootKeyCheck after refused SetRootKeyCheck = %q, %v; want %q", got, err, check)
	}
}

func testRootKeyCheckConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const servers = 8
	// Servers starting at once, each with its own root key.
	errs := make([]error, servers)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Go(func() {
			errs[i] = s.SetRootKeyCheck(ctx, fmt.Appendf(nil, "check of server %d", i))
		})
	}
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("SetRootKeyCheck #%d and #%d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("SetRootKeyCheck #%d = %v, want nil or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no concurrent SetRootKeyCheck succeeded")
	}
	want := fmt.Appendf(nil, "check of server %d", winner)
	if got, err := s.RootKeyCheck(ctx); err != nil || !slices.Equal(got, want) {
		t.Errorf("RootKeyCheck = %q, %v; want the winner's %q", got, err, want)
	}
}

func testAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	// A link that shows what it was given: the sequence number and the
	// previous hash, which the store sets.
	link := func(r store.AuditRecord) []byte {
		return []byte(fmt.Sprintf("%d<%s|%s", r.Seq, r.PrevHash, r.Action))
	}
	var want []store.AuditRecord
	for i, a := range []struct{ account, actor, action string }{
		{acctA, "alice", "POST /v1/sessions"}, {acctB, "bob", "GET /v1/nodes"}, {acctA, "alice", "SessionEnded"}, {"", "anonymous", "POST /v1/login"},
	} {
		r := store.AuditRecord{Time: t0.Add(time.Duration(i) * time.Minute), Account: a.account, Actor: a.actor, Action: a.action,
			Resource: "/r", Source: "127.0.0.1:1", Result: "Allowed", Status: 200, RequestID: fmt.Sprint(i), Detail: "d"}
		got, err := s.AppendAudit(ctx, r, link)
		if err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		r.Seq = int64(i + 1)
		if i > 0 {
			r.PrevHash = want[i-1].Hash
		}
		r.Hash = link(r)
		checkEqual(t, "AppendAudit", got, r)
		want = append(want, r)
	}
	all, err := s.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Fatalf("ListAudit: %d records, want %d", len(all), len(want))
	}
	for i := range want {
		checkEqual(t, "ListAudit", all[i], want[i])
	}
	for _, tc := range []struct {
		name string
		f    store.AuditFilter
		want []int64
	}{
		{"account", store.AuditFilter{Account: acctA}, []int64{1, 3}},
		{"actor", store.AuditFilter{Actor: "bob"}, []int64{2}},
		{"action substring", store.AuditFilter{Action: "/v1/"}, []int64{1, 2, 4}},
		{"since", store.AuditFilter{Since: t0.Add(2 * time.Minute)}, []int64{3, 4}},
		{"after and limit", store.AuditFilter{AfterSeq: 1, Limit: 2}, []int64{2, 3}},
	} {
		rs, err := s.ListAudit(ctx, tc.f)
		var got []int64
		for _, r := range rs {
			got = append(got, r.Seq)
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("ListAudit(%s) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func testOrganizations(t *testing.T, s store.Store) {
	ctx := t.Context()
	const org, root = "o-abcdefghij", "r-ab12"
	if _, err := s.GetOrganization(ctx, org); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetOrganization(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.CreateOrganization(ctx, store.Organization{ID: org, ManagementAccount: acctUnknown, Root: root, CreatedAt: t0}); err == nil {
		t.Fatal("CreateOrganization with an unknown management account succeeded")
	}
	o := store.Organization{ID: org, ManagementAccount: acctA, Root: root, CreatedAt: t0}
	if err := s.CreateOrganization(ctx, o); err != nil {
		t.Fatalf("CreateOrganization: %v", err)
	}
	if got, err := s.GetOrganization(ctx, org); err != nil || got != o {
		t.Fatalf("GetOrganization = %+v, %v; want %+v", got, err, o)
	}
	if err := s.CreateOrganization(ctx, store.Organization{ID: "o-kkkkkkkkkk", ManagementAccount: acctA, Root: "r-kk12", CreatedAt: t0}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a second organization of the same management account: %v, want ErrConflict", err)
	}
	mgmt, err := s.GetAccount(ctx, acctA)
	if err != nil || mgmt.Org != org || mgmt.Parent != root {
		t.Fatalf("management account %+v, %v; want it in %s under %s", mgmt, err, org, root)
	}
	if a, err := s.GetAccount(ctx, acctB); err != nil || a.Org != "" || a.Parent != "" {
		t.Fatalf("account outside the organization: %+v, %v", a, err)
	}
	if _, err := s.GetAccount(ctx, acctUnknown); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetAccount(unknown) = %v, want ErrNotFound", err)
	}

	prod := store.OrgUnit{ID: "ou-ab12-aaaaaaaa", Org: org, Parent: root, Name: "Prod", CreatedAt: t0.Add(time.Second)}
	dev := store.OrgUnit{ID: "ou-ab12-bbbbbbbb", Org: org, Parent: root, Name: "Dev", CreatedAt: t0.Add(2 * time.Second)}
	web := store.OrgUnit{ID: "ou-ab12-cccccccc", Org: org, Parent: prod.ID, Name: "Web", CreatedAt: t0.Add(3 * time.Second)}
	for _, u := range []store.OrgUnit{prod, dev, web} {
		if err := s.CreateOrgUnit(ctx, u); err != nil {
			t.Fatalf("CreateOrgUnit(%s): %v", u.Name, err)
		}
	}
	if err := s.CreateOrgUnit(ctx, store.OrgUnit{ID: "ou-ab12-dddddddd", Org: org, Parent: root, Name: "Prod", CreatedAt: t0}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a second unit named Prod under the root: %v, want ErrConflict", err)
	}
	if err := s.CreateOrgUnit(ctx, store.OrgUnit{ID: "ou-ab12-eeeeeeee", Org: org, Parent: "ou-zz99-zzzzzzzz", Name: "Lost", CreatedAt: t0}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a unit under an unknown parent: %v, want ErrNotFound", err)
	}
	us, err := s.ListOrgUnits(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range us {
		names = append(names, u.Name+"<"+u.Parent)
	}
	if want := []string{"Root<", "Prod<" + root, "Dev<" + root, "Web<" + prod.ID}; !slices.Equal(names, want) {
		t.Fatalf("ListOrgUnits = %v, want %v", names, want)
	}

	member := store.Account{ID: "000000000010", Name: "web-prod", CreatedAt: t0, Org: org, Parent: web.ID}
	if err := s.CreateMemberAccount(ctx, member); err != nil {
		t.Fatalf("CreateMemberAccount: %v", err)
	}
	if err := s.CreateMemberAccount(ctx, member); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateMemberAccount twice: %v, want ErrConflict", err)
	}
	if err := s.CreateMemberAccount(ctx, store.Account{ID: "000000000011", Name: "x", CreatedAt: t0, Org: org, Parent: "ou-zz99-zzzzzzzz"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an account under an unknown parent: %v, want ErrNotFound", err)
	}
	if err := s.DeleteOrgUnit(ctx, org, web.ID); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("DeleteOrgUnit of a unit holding an account: %v, want ErrConflict", err)
	}
	if err := s.DeleteOrgUnit(ctx, org, root); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("DeleteOrgUnit of the root: %v, want ErrConflict", err)
	}
	if err := s.MoveAccount(ctx, org, member.ID, dev.ID, root); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("MoveAccount from where it is not: %v, want ErrNotFound", err)
	}
	if err := s.MoveAccount(ctx, org, member.ID, web.ID, "ou-zz99-zzzzzzzz"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("MoveAccount to an unknown unit: %v, want ErrNotFound", err)
	}
	if err := s.MoveAccount(ctx, org, member.ID, web.ID, dev.ID); err != nil {
		t.Fatalf("MoveAccount: %v", err)
	}
	if err := s.DeleteOrgUnit(ctx, org, web.ID); err != nil {
		t.Fatalf("DeleteOrgUnit of an empty unit: %v", err)
	}
	if err := s.DeleteOrgUnit(ctx, org, web.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteOrgUnit twice: %v, want ErrNotFound", err)
	}
	as, err := s.ListAccounts(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Account{mgmt, {ID: member.ID, Name: member.Name, CreatedAt: t0, Org: org, Parent: dev.ID}}
	if !slices.EqualFunc(as, want, func(a, b store.Account) bool {
		return a.ID == b.ID && a.Name == b.Name && a.Org == b.Org && a.Parent == b.Parent && a.CreatedAt.Equal(b.CreatedAt)
	}) {
		t.Fatalf("ListAccounts = %+v, want %+v", as, want)
	}
	if err := s.SetOrgArchive(ctx, org, `{"account":"000000000010"}`); err != nil {
		t.Fatalf("SetOrgArchive: %v", err)
	}
	if got, err := s.GetOrganization(ctx, org); err != nil || got.Archive != `{"account":"000000000010"}` {
		t.Fatalf("the organization's archive: %q, %v", got.Archive, err)
	}
	if err := s.SetOrgArchive(ctx, "o-nnnnnnnnnn", "{}"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SetOrgArchive of an unknown organization: %v, want ErrNotFound", err)
	}
	// Another organization's units are not this one's.
	if err := s.CreateOrganization(ctx, store.Organization{ID: "o-zzzzzzzzzz", ManagementAccount: acctB, Root: "r-zz99", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.MoveAccount(ctx, org, member.ID, dev.ID, "r-zz99"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("MoveAccount into another organization's root: %v, want ErrNotFound", err)
	}
	if err := s.CreateMemberAccount(ctx, store.Account{ID: "000000000012", Name: "x", CreatedAt: t0, Org: "o-zzzzzzzzzz", Parent: dev.ID}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an account under another organization's unit: %v, want ErrNotFound", err)
	}
	if os, err := s.ListOrganizations(ctx); err != nil || len(os) != 2 || os[0].ID != org || os[0].Archive == "" || os[1].ID != "o-zzzzzzzzzz" {
		t.Fatalf("ListOrganizations = %+v, %v; want %s (with its archive) and o-zzzzzzzzzz", os, err, org)
	}
}

// testDocumentsConcurrent: writers of one document at once, as servers
// sharing a database may be, each get a version of their own.
func testDocumentsConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const writers = 8
	versions := make([]int, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			d, err := s.PutDocument(ctx, store.Document{Account: acctA, Name: "Shared", Content: fmt.Sprint(i), CreatedBy: "alice", CreatedAt: t0})
			versions[i], errs[i] = d.Version, err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("PutDocument #%d: %v", i, err)
		}
	}
	got := slices.Sorted(slices.Values(versions))
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("concurrent PutDocument versions = %v, want 1 to %d once each", got, writers)
		}
	}
	// Each version holds what its writer wrote.
	for i, v := range versions {
		d, err := s.GetDocument(ctx, acctA, "Shared", v)
		if err != nil || d.Content != fmt.Sprint(i) {
			t.Errorf("GetDocument(version %d) = %+v, %v; want writer %d's content", v, d, err, i)
		}
	}
}

// testAuditConcurrent: records appended at once, as servers sharing a
// database do, still form one chain: sequence numbers 1, 2, ... each
// once, each record linked to the one before.
func testAuditConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const appenders, each = 4, 10
	link := func(r store.AuditRecord) []byte {
		h := sha256.Sum256(fmt.Appendf(nil, "%d<%x|%s", r.Seq, r.PrevHash, r.RequestID))
		return h[:]
	}
	errs := make([]error, appenders)
	var wg sync.WaitGroup
	for i := range appenders {
		wg.Go(func() {
			for j := range each {
				r := store.AuditRecord{Time: t0, Account: acctA, Actor: "alice", Action: "GET /v1/nodes", Result: "Allowed", Status: 200, RequestID: fmt.Sprintf("%d-%d", i, j)}
				if _, err := s.AppendAudit(ctx, r, link); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	all, err := s.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != appenders*each {
		t.Fatalf("ListAudit: %d records, want %d", len(all), appenders*each)
	}
	seen := map[string]bool{}
	var prev []byte
	for i, r := range all {
		if r.Seq != int64(i+1) || !slices.Equal(r.PrevHash, prev) || !slices.Equal(r.Hash, link(r)) {
			t.Fatalf("record %d: seq %d, prev %q, hash %q; want seq %d linked to %q", i, r.Seq, r.PrevHash, r.Hash, i+1, prev)
		}
		if seen[r.RequestID] {
			t.Errorf("record %s appended twice", r.RequestID)
		}
		seen[r.RequestID] = true
		prev = r.Hash
	}
}

// stackSetFixture makes an organization of acctA with acctB as a member,
// for the stack set tests.
func stackSetFixture(t *testing.T, s store.Store) (org string) {
	t.Helper()
	ctx := t.Context()
	org = "o-abcdefghij"
	if err := s.CreateOrganization(ctx, store.Organization{ID: org, ManagementAccount: acctA, Root: "r-ab12", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMemberAccount(ctx, store.Account{ID: "000000000010", Name: "member", CreatedAt: t0, Org: org, Parent: "r-ab12"}); err != nil {
		t.Fatal(err)
	}
	return org
}

func testStackSets(t *testing.T, s store.Store) {
	ctx := t.Context()
	org := stackSetFixture(t, s)
	const member = "000000000010"
	ss := store.StackSet{Org: org, Name: "Baseline", Description: "every account's logging", Template: "Resources: {}\n", TemplateName: "baseline.yaml",
		Digest: strings.Repeat("ab", 32), Parameters: map[string]string{"Retention": "30", "Ünï": `"quoted" \`}, Targets: []string{"ou-ab12-aaaaaaaa", member},
		CreatedAt: t0, UpdatedAt: t0}
	if _, err := s.GetStackSet(ctx, org, "Baseline"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetStackSet(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.CreateStackSet(ctx, ss); err != nil {
		t.Fatalf("CreateStackSet: %v", err)
	}
	if err := s.CreateStackSet(ctx, ss); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateStackSet twice: %v, want ErrConflict", err)
	}
	if err := s.CreateStackSet(ctx, store.StackSet{Org: "o-nnnnnnnnnn", Name: "Lost", CreatedAt: t0}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CreateStackSet of an unknown organization: %v, want ErrNotFound", err)
	}
	got, err := s.GetStackSet(ctx, org, "Baseline")
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "GetStackSet", got, ss)
	bare := store.StackSet{Org: org, Name: "Alpha", CreatedAt: t0}
	if err := s.CreateStackSet(ctx, bare); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListStackSets(ctx, org)
	if err != nil || len(list) != 2 || list[0].Name != "Alpha" || list[1].Name != "Baseline" {
		t.Fatalf("ListStackSets = %+v, %v; want Alpha, Baseline", list, err)
	}
	checkEqual(t, "ListStackSets[0]", list[0], bare)

	ss.Description, ss.Template, ss.TemplateName, ss.Digest = "changed", "Resources: {A: {}}\n", "v2.yaml", strings.Repeat("cd", 32)
	ss.Parameters, ss.Targets, ss.UpdatedAt = nil, nil, t0.Add(time.Hour)
	if err := s.UpdateStackSet(ctx, ss); err != nil {
		t.Fatalf("UpdateStackSet: %v", err)
	}
	got, _ = s.GetStackSet(ctx, org, "Baseline")
	checkEqual(t, "GetStackSet after UpdateStackSet", got, ss)
	if err := s.UpdateStackSet(ctx, store.StackSet{Org: org, Name: "Nope"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateStackSet(unknown) = %v, want ErrNotFound", err)
	}

	in := store.StackInstance{Org: org, StackSet: "Baseline", Account: member, Status: "FAILED", Reason: "log group: ünï",
		Digest: ss.Digest, Parameters: map[string]string{"Retention": "30"}, PhysicalIDs: map[string]string{"Key": "0d2f6a4e-8c1b-4e7a-9f3d-5b6c7d8e9f01"},
		Resources: `[{"logicalId":"Logs"}]`, Drift: `{"status":"DRIFTED"}`, DriftCheckedAt: t0.Add(time.Minute), UpdatedAt: t0}
	if _, err := s.GetStackInstance(ctx, org, "Baseline", member); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetStackInstance(none) = %v, want ErrNotFound", err)
	}
	if err := s.PutStackInstance(ctx, in); err != nil {
		t.Fatalf("PutStackInstance: %v", err)
	}
	gotIn, err := s.GetStackInstance(ctx, org, "Baseline", member)
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "GetStackInstance", gotIn, in)
	// Put replaces every field.
	in.Status, in.Reason, in.Parameters, in.Drift, in.DriftCheckedAt, in.UpdatedAt = "CURRENT", "", nil, "", time.Time{}, t0.Add(2*time.Hour)
	if err := s.PutStackInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	gotIn, _ = s.GetStackInstance(ctx, org, "Baseline", member)
	checkEqual(t, "GetStackInstance after a second PutStackInstance", gotIn, in)
	for _, bad := range []store.StackInstance{
		{Org: org, StackSet: "Nope", Account: member, UpdatedAt: t0},
		{Org: org, StackSet: "Baseline", Account: acctUnknown, UpdatedAt: t0},
	} {
		if err := s.PutStackInstance(ctx, bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PutStackInstance(%s/%s) = %v, want ErrNotFound", bad.StackSet, bad.Account, err)
		}
	}
	mgmt := store.StackInstance{Org: org, StackSet: "Baseline", Account: acctA, Status: "OUTDATED", UpdatedAt: t0}
	alpha := store.StackInstance{Org: org, StackSet: "Alpha", Account: member, Status: "CURRENT", UpdatedAt: t0}
	for _, x := range []store.StackInstance{mgmt, alpha} {
		if err := s.PutStackInstance(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	ins, err := s.ListStackInstances(ctx, org, "Baseline")
	if err != nil || len(ins) != 2 {
		t.Fatalf("ListStackInstances = %+v, %v", ins, err)
	}
	checkEqual(t, "ListStackInstances[0]", ins[0], mgmt)
	checkEqual(t, "ListStackInstances[1]", ins[1], in)
	ins, err = s.AccountStackInstances(ctx, member)
	if err != nil || len(ins) != 2 || ins[0].StackSet != "Alpha" || ins[1].StackSet != "Baseline" {
		t.Fatalf("AccountStackInstances = %+v, %v; want Alpha's and Baseline's", ins, err)
	}
	if ins, err := s.AccountStackInstances(ctx, acctB); err != nil || len(ins) != 0 {
		t.Errorf("AccountStackInstances of an account with none = %+v, %v", ins, err)
	}

	if err := s.DeleteStackSet(ctx, org, "Baseline"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("DeleteStackSet with instances = %v, want ErrConflict", err)
	}
	for _, a := range []string{acctA, member} {
		if err := s.DeleteStackInstance(ctx, org, "Baseline", a); err != nil {
			t.Fatalf("DeleteStackInstance(%s): %v", a, err)
		}
	}
	if err := s.DeleteStackInstance(ctx, org, "Baseline", member); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteStackInstance twice = %v, want ErrNotFound", err)
	}
	if err := s.DeleteStackSet(ctx, org, "Baseline"); err != nil {
		t.Fatalf("DeleteStackSet: %v", err)
	}
	if err := s.DeleteStackSet(ctx, org, "Baseline"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteStackSet twice = %v, want ErrNotFound", err)
	}
	if list, _ := s.ListStackSets(ctx, org); len(list) != 1 || list[0].Name != "Alpha" {
		t.Errorf("ListStackSets after the delete = %+v", list)
	}
}

// testStackSetOperations: one operation at a time holds a stack set, until
// it ends or its time is up; concurrent beginners, as servers sharing a
// database are, see one of them win.
func testStackSetOperations(t *testing.T, s store.Store) {
	ctx := t.Context()
	org := stackSetFixture(t, s)
	if err := s.CreateStackSet(ctx, store.StackSet{Org: org, Name: "Baseline", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	until := t0.Add(5 * time.Minute)
	if err := s.BeginStackSetOperation(ctx, org, "Nope", "op-0", t0, until); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("BeginStackSetOperation(unknown) = %v, want ErrNotFound", err)
	}
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = s.BeginStackSetOperation(ctx, org, "Baseline", fmt.Sprintf("op-%d", i), t0, until) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("operations %d and %d both began", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("BeginStackSetOperation #%d = %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no operation began")
	}
	held := fmt.Sprintf("op-%d", winner)
	if ss, err := s.GetStackSet(ctx, org, "Baseline"); err != nil || ss.Operation != held || !ss.OperationUntil.Equal(until) {
		t.Fatalf("the stack set while %s holds it: %+v, %v", held, ss, err)
	}
	// Ending someone else's operation changes nothing.
	if err := s.EndStackSetOperation(ctx, org, "Baseline", "op-other"); err != nil {
		t.Fatal(err)
	}
	if err := s.BeginStackSetOperation(ctx, org, "Baseline", "op-late", t0.Add(time.Minute), until); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a second operation while the first holds it: %v, want ErrConflict", err)
	}
	// Past its time, an operation no longer holds it (its server died).
	if err := s.BeginStackSetOperation(ctx, org, "Baseline", "op-after", until.Add(time.Second), until.Add(time.Hour)); err != nil {
		t.Fatalf("an operation after the first's time was up: %v", err)
	}
	if err := s.EndStackSetOperation(ctx, org, "Baseline", "op-after"); err != nil {
		t.Fatal(err)
	}
	if ss, _ := s.GetStackSet(ctx, org, "Baseline"); ss.Operation != "" || !ss.OperationUntil.IsZero() {
		t.Errorf("after the end: %+v", ss)
	}
	if err := s.BeginStackSetOperation(ctx, org, "Baseline", "op-next", t0, until); err != nil {
		t.Errorf("an operation after the last ended: %v", err)
	}
}

// testStackSetOperationHistory: what operations did is kept, newest
// first, only the newest few of each stack set, and goes with the stack
// set.
func testStackSetOperationHistory(t *testing.T, s store.Store) {
	ctx := t.Context()
	org := stackSetFixture(t, s)
	for _, name := range []string{"Baseline", "Other"} {
		if err := s.CreateStackSet(ctx, store.StackSet{Org: org, Name: name, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if ops, err := s.ListStackSetOperations(ctx, org, "Baseline"); err != nil || len(ops) != 0 {
		t.Fatalf("ListStackSetOperations before any = %+v, %v", ops, err)
	}
	op := func(name, id string, start time.Time) store.StackSetOperation {
		return store.StackSetOperation{Org: org, StackSet: name, ID: id, Action: "DEPLOY", By: "prn:postern:iam:" + acctA + ":user/ünï",
			Stopped: "1 accounts failed", Accounts: `[{"account":"000000000010","status":"FAILED","reason":"ünï \"quoted\""}]`,
			StartedAt: start, EndedAt: start.Add(1500 * time.Microsecond)}
	}
	first := op("Baseline", "op-1", t0)
	if err := s.AddStackSetOperation(ctx, first, 3); err != nil {
		t.Fatalf("AddStackSetOperation: %v", err)
	}
	ops, err := s.ListStackSetOperations(ctx, org, "Baseline")
	if err != nil || len(ops) != 1 {
		t.Fatalf("ListStackSetOperations = %+v, %v", ops, err)
	}
	checkEqual(t, "ListStackSetOperations[0]", ops[0], first)
	if err := s.AddStackSetOperation(ctx, first, 3); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("AddStackSetOperation twice = %v, want ErrConflict", err)
	}
	if err := s.AddStackSetOperation(ctx, op("Nope", "op-x", t0), 3); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("AddStackSetOperation of an unknown stack set = %v, want ErrNotFound", err)
	}
	if err := s.AddStackSetOperation(ctx, op("Baseline", "op-y", t0), 0); err == nil {
		t.Fatal("AddStackSetOperation keeping none: no error")
	}
	// Out of order, and two at one instant (ordered by id): only the
	// three newest stay.
	for _, o := range []store.StackSetOperation{
		op("Baseline", "op-4", t0.Add(4*time.Minute)), op("Baseline", "op-2", t0.Add(2*time.Minute)),
		op("Baseline", "op-3a", t0.Add(3*time.Minute)), op("Baseline", "op-3b", t0.Add(3*time.Minute)),
		op("Other", "op-9", t0.Add(9*time.Minute)),
	} {
		if err := s.AddStackSetOperation(ctx, o, 3); err != nil {
			t.Fatalf("AddStackSetOperation(%s): %v", o.ID, err)
		}
	}
	ops, err = s.ListStackSetOperations(ctx, org, "Baseline")
	var ids []string
	for _, o := range ops {
		ids = append(ids, o.ID)
	}
	if err != nil || !slices.Equal(ids, []string{"op-4", "op-3b", "op-3a"}) {
		t.Fatalf("ListStackSetOperations = %v, %v; want op-4, op-3b, op-3a", ids, err)
	}
	if ops, err := s.ListStackSetOperations(ctx, org, "Other"); err != nil || len(ops) != 1 || ops[0].ID != "op-9" {
		t.Fatalf("another stack set's operations = %+v, %v", ops, err)
	}
	// Deleting the stack set deletes its history: one made again with its
	// name starts with none.
	if err := s.DeleteStackSet(ctx, org, "Baseline"); err != nil {
		t.Fatalf("DeleteStackSet with operations: %v", err)
	}
	if err := s.CreateStackSet(ctx, store.StackSet{Org: org, Name: "Baseline", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if ops, err := s.ListStackSetOperations(ctx, org, "Baseline"); err != nil || len(ops) != 0 {
		t.Fatalf("the operations of a stack set made again = %+v, %v", ops, err)
	}
}

func testLeases(t *testing.T, s store.Store) {
	ctx := t.Context()
	acquire := func(name, holder string, ttl time.Duration, want bool) {
		t.Helper()
		if got, err := s.AcquireLease(ctx, name, holder, ttl); err != nil || got != want {
			t.Fatalf("AcquireLease(%s, %s) = %v, %v; want %v", name, holder, got, err, want)
		}
	}
	acquire("outbox", "server-a", time.Hour, true)
	acquire("outbox", "server-b", time.Hour, false)
	acquire("outbox", "server-a", time.Hour, true) // a renewal
	acquire("retention", "server-b", time.Hour, true)
	if err := s.ReleaseLease(ctx, "outbox", "server-b"); err != nil { // not b's: nothing happens
		t.Fatal(err)
	}
	acquire("outbox", "server-b", time.Hour, false)
	if err := s.ReleaseLease(ctx, "outbox", "server-a"); err != nil {
		t.Fatal(err)
	}
	acquire("outbox", "server-b", time.Hour, true)
	// An expired lease is anyone's; until it expires, its holder's.
	acquire("archive", "server-a", 300*time.Millisecond, true)
	acquire("archive", "server-b", time.Hour, false)
	time.Sleep(400 * time.Millisecond)
	acquire("archive", "server-b", time.Hour, true)
	acquire("archive", "server-a", time.Hour, false)
}

// testLeasesConcurrent: of servers racing for a free lease, exactly one
// gets it, round after round.
func testLeasesConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const servers, rounds = 8, 30
	for r := 0; r < rounds; r++ {
		name := fmt.Sprintf("race-%d", r)
		var wg sync.WaitGroup
		won := make(chan string, servers)
		start := make(chan struct{})
		for i := 0; i < servers; i++ {
			wg.Go(func() {
				<-start
				holder := fmt.Sprintf("server-%d", i)
				ok, err := s.AcquireLease(ctx, name, holder, time.Hour)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won <- holder
				}
			})
		}
		close(start)
		wg.Wait()
		close(won)
		var winners []string
		for w := range won {
			winners = append(winners, w)
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d servers hold the lease: %v", r, len(winners), winners)
		}
	}
}

func testAccessKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, u := range []string{"alice", "bob"} {
		if err := s.CreateUser(ctx, store.User{Account: store.DefaultAccount, Name: u}); err != nil && !errors.Is(err, store.ErrConflict) {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	keys := []store.AccessKey{
		{ID: "AKIAPOSTERN000000001", Account: store.DefaultAccount, User: "alice", SealedSecret: []byte{1, 2, 3}, CreatedAt: t0},
		{ID: "AKIAPOSTERN000000002", Account: store.DefaultAccount, User: "alice", SealedSecret: []byte{4, 5}, CreatedAt: t0.Add(time.Minute)},
		{ID: "AKIAPOSTERN000000003", Account: store.DefaultAccount, User: "bob", SealedSecret: []byte{6}, CreatedAt: t0},
	}
	for _, k := range keys {
		if err := s.CreateAccessKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateAccessKey(ctx, keys[0]); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second key with the same ID: %v, want ErrConflict", err)
	}
	got, err := s.GetAccessKey(ctx, "AKIAPOSTERN000000002")
	if err != nil || !reflect.DeepEqual(got, keys[1]) {
		t.Errorf("GetAccessKey = %+v, %v; want %+v", got, err, keys[1])
	}
	if _, err := s.GetAccessKey(ctx, "AKIAPOSTERN000000009"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAccessKey of an unknown ID: %v", err)
	}
	ks, err := s.ListAccessKeys(ctx, store.DefaultAccount, "alice")
	if err != nil || len(ks) != 2 || ks[0].ID != keys[0].ID || ks[1].ID != keys[1].ID {
		t.Errorf("ListAccessKeys(alice) = %+v, %v", ks, err)
	}
	if err := s.DeleteAccessKey(ctx, store.DefaultAccount, "bob", keys[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bob deleting alice's key: %v, want ErrNotFound", err)
	}
	if err := s.DeleteAccessKey(ctx, store.DefaultAccount, "alice", keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccessKey(ctx, keys[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted key is still found: %v", err)
	}
}

// testLeaseHolders: the holders of unexpired leases by a name's prefix
// (how servers find each other), on the store's clock.
func testLeaseHolders(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, l := range []struct {
		name, holder string
		ttl          time.Duration
	}{
		{"server/a", "https://a:8443", time.Hour},
		{"server/b", "https://b:8443", 200 * time.Millisecond},
		{"servers", "not a server", time.Hour},
		{"deliveries", "a", time.Hour},
	} {
		if ok, err := s.AcquireLease(ctx, l.name, l.holder, l.ttl); err != nil || !ok {
			t.Fatalf("AcquireLease(%s) = %v, %v", l.name, ok, err)
		}
	}
	got, err := s.LeaseHolders(ctx, "server/")
	if want := map[string]string{"server/a": "https://a:8443", "server/b": "https://b:8443"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("LeaseHolders = %v, %v; want %v", got, err, want)
	}
	time.Sleep(300 * time.Millisecond)
	got, err = s.LeaseHolders(ctx, "server/")
	if want := map[string]string{"server/a": "https://a:8443"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after b expired: LeaseHolders = %v, %v; want %v", got, err, want)
	}
	if got, err := s.LeaseHolders(ctx, "nothing/"); err != nil || len(got) != 0 {
		t.Fatalf("LeaseHolders(nothing/) = %v, %v", got, err)
	}
}

// testPlacements: a placement names one server, says who had it before,
// and is forgotten only by its holder.
func testPlacements(t *testing.T, s store.Store) {
	ctx := t.Context()
	place := func(key, server, wantPrev string) {
		t.Helper()
		if prev, err := s.Place(ctx, key, server); err != nil || prev != wantPrev {
			t.Fatalf("Place(%s, %s) = %q, %v; want %q", key, server, prev, err, wantPrev)
		}
	}
	at := func(key, want string) {
		t.Helper()
		if got, err := s.Placement(ctx, key); err != nil || got != want {
			t.Fatalf("Placement(%s) = %q, %v; want %q", key, got, err, want)
		}
	}
	at("node/mi-1", "")
	place("node/mi-1", "a", "")
	place("session/s-1", "a", "")
	at("node/mi-1", "a")
	place("node/mi-1", "b", "a")
	at("node/mi-1", "b")
	if err := s.Unplace(ctx, "node/mi-1", "a"); err != nil { // not a's any more
		t.Fatal(err)
	}
	at("node/mi-1", "b")
	if err := s.Unplace(ctx, "node/mi-1", "b"); err != nil {
		t.Fatal(err)
	}
	at("node/mi-1", "")
	at("session/s-1", "a")
	place("node/mi-1", "c", "")
	place("node/mi-2", "a", "")
	placeIf := func(key, server, from string, want bool) {
		t.Helper()
		if ok, err := s.PlaceIf(ctx, key, server, from); err != nil || ok != want {
			t.Fatalf("PlaceIf(%s, %s, from %q) = %v, %v; want %v", key, server, from, ok, err, want)
		}
	}
	placeIf("session/s-2", "b", "", true)  // nobody's: taken
	placeIf("session/s-2", "c", "", false) // b's now
	placeIf("session/s-2", "c", "a", false)
	placeIf("session/s-2", "c", "b", true)
	at("session/s-2", "c")
	// Of servers taking a key from the same holder, one gets it.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if ok, err := s.PlaceIf(ctx, "session/s-2", fmt.Sprintf("taker-%d", i), "c"); err != nil {
				t.Error(err)
			} else if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d servers took session/s-2 from c, want 1", wins.Load())
	}
	got, err := s.PlacementsWith(ctx, "node/")
	if want := map[string]string{"node/mi-1": "c", "node/mi-2": "a"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("PlacementsWith(node/) = %v, %v; want %v", got, err, want)
	}
}
