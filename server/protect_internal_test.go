package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/postern/postern/api"
	"github.com/postern/postern/rollout"
	"github.com/postern/postern/stacktemplate"
	"github.com/postern/postern/store"
)

// TestProtectedResourcesRefused: the account's administrator may not
// change what a stack set deployed there and protects (a log group's
// retention or existence, the preferences, a policy, a key's policy and
// state, an alias), with an error naming the stack set; reading them, and
// changing what is not protected, goes on as ever.
func TestProtectedResourcesRefused(t *testing.T) {
	ctx := t.Context()
	f := newRouteFixture(t)
	st := f.s.store
	const org = "o-abcdefghij"
	if err := st.CreateOrganization(ctx, store.Organization{ID: org, ManagementAccount: store.DefaultAccount, Root: "r-ab12"}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateStackSet(ctx, store.StackSet{Org: org, Name: "Baseline"}); err != nil {
		t.Fatal(err)
	}
	deployed := func(logical, typ, id string, protected bool) rollout.Deployed {
		return rollout.Deployed{LogicalID: logical, Type: typ, PhysicalID: id, Protected: protected}
	}
	text, err := rollout.EncodeDeployed([]rollout.Deployed{
		deployed("Logs", stacktemplate.TypeLogGroup, f.group, true),
		deployed("Prefs", stacktemplate.TypeDocument, DefaultDocument, true),
		deployed("Operators", stacktemplate.TypePolicy, "baseline", true),
		deployed("Key", stacktemplate.TypeKey, f.keyID, true),
		deployed("Alias", stacktemplate.TypeAlias, "alias/baseline", true),
		deployed("Loose", stacktemplate.TypePolicy, "loose", false),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutStackInstance(ctx, store.StackInstance{Org: org, StackSet: "Baseline", Account: store.DefaultAccount, Status: api.StackCurrent, Resources: text}); err != nil {
		t.Fatal(err)
	}
	h, admin := f.s.Handler(), f.token(t, "admin")
	do := func(method, path, body string) (int, api.Error) {
		req := httptest.NewRequestWithContext(ctx, method, path, bytes.NewBufferString(body))
		req.RemoteAddr = "192.0.2.1:1234"
		req.Header.Set("Authorization", "Bearer "+admin)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var e api.Error
		json.Unmarshal(rec.Body.Bytes(), &e)
		return rec.Code, e
	}
	prefs := `{"content":"{\"schemaVersion\":\"1.0\",\"sessionType\":\"Standard_Stream\"}"}`
	cedar := `{"text":"permit (principal in Group::\"administrators\", action, resource);"}`
	for _, c := range []struct{ method, path, body, what string }{
		{"PUT", api.PathLogGroups + "/retention?name=" + f.group + "&days=7", "", "log group " + f.group},
		{"DELETE", api.PathLogGroups + "?name=" + f.group, "", "log group " + f.group},
		{"PUT", api.PathPreferences, prefs, "document " + DefaultDocument},
		{"DELETE", api.PathDocuments + "/" + DefaultDocument, "", "document " + DefaultDocument},
		{"PUT", api.PathPolicies + "/baseline", cedar, "policy baseline"},
		{"DELETE", api.PathPolicies + "/baseline", "", "policy baseline"},
		{"POST", api.PathKeys + "/put-policy", `{"keyId":"` + f.keyID + `","policy":"{}"}`, "key " + f.keyID},
		{"POST", api.PathKeys + "/disable", `{"keyId":"prn:postern:kms:` + store.DefaultAccount + `:key/` + f.keyID + `"}`, "key " + f.keyID},
		{"POST", api.PathKeys + "/schedule-deletion", `{"keyId":"` + f.keyID + `"}`, "key " + f.keyID},
		{"POST", api.PathKeys + "/alias", `{"keyId":"` + f.keyID + `","aliasName":"alias/baseline"}`, "alias alias/baseline"},
		{"POST", api.PathKeys + "/delete-alias", `{"aliasName":"alias/baseline"}`, "alias alias/baseline"},
	} {
		code, e := do(c.method, c.path, c.body)
		if code != http.StatusForbidden || e.Code != api.CodeProtectedByStackSet || !strings.HasPrefix(e.Message, c.what+" is protected by stack set Baseline of organization "+org) {
			t.Errorf("%s %s: %d %s %q; want it refused as %s's", c.method, c.path, code, e.Code, e.Message, c.what)
		}
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", api.PathKeys + "/describe", `{"keyId":"` + f.keyID + `"}`},
		{"POST", api.PathKeys + "/rotate", `{"keyId":"` + f.keyID + `"}`},
		{"GET", api.PathPreferences, ""},
		{"PUT", api.PathPolicies + "/loose", cedar},
		{"POST", api.PathKeys + "/alias", `{"keyId":"` + f.keyID + `","aliasName":"alias/mine"}`},
	} {
		if code, e := do(c.method, c.path, c.body); code/100 != 2 {
			t.Errorf("%s %s: %d %s %s; want it done", c.method, c.path, code, e.Code, e.Message)
		}
	}
}
