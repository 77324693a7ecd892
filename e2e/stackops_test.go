package e2e

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
)

// smallTemplate is a stack set of one resource, the account's
// preferences, whose idle timeout a member can change: what the console's
// rollout test and TestStackSetOperations deploy.
const smallTemplate = `Parameters:
  IdleTimeout: {Type: Number, Default: 20, MinValue: 1, MaxValue: 60}
Resources:
  Preferences:
    Type: AWS::SSM::Document
    Properties:
      Name: SSM-SessionManagerRunShell
      DocumentType: Session
      Content:
        schemaVersion: "1.0"
        sessionType: Standard_Stream
        inputs:
          idleSessionTimeout: !Ref IdleTimeout
`

// memberPrefs is a member's own preferences: the template's, with
// another idle timeout.
const memberPrefs = `{"schemaVersion": "1.0", "sessionType": "Standard_Stream", "inputs": {"idleSessionTimeout": 45}}`

// TestStackSetOperations: a stack set's operations are kept, newest
// first, each with its id, who asked and every account's outcome (the
// automatic deployment to an account created in a target unit too, and
// drift detection with what it found), only the newest twenty, and go
// with the stack set; the instances listing keeps the last drift
// detection's findings, field by field, until a deployment puts them
// back; a member account may not list them.
func TestStackSetOperations(t *testing.T) {
	ctx := testCtx(t)
	e := startDev(t)
	c := e.api()
	if _, err := c.CreateOrganization(ctx); err != nil {
		t.Fatal(err)
	}
	prod, err := c.CreateOrgUnit(ctx, api.CreateOrgUnitRequest{Name: "Prod"})
	if err != nil {
		t.Fatal(err)
	}
	web, err := c.CreateOrgAccount(ctx, api.CreateAccountRequest{Name: "web", Parent: prod.ID})
	if err != nil {
		t.Fatal(err)
	}
	db, err := c.CreateOrgAccount(ctx, api.CreateAccountRequest{Name: "db", Parent: prod.ID})
	if err != nil {
		t.Fatal(err)
	}
	const by = "prn:postern:iam:000000000001:user/admin"
	if _, err := c.CreateStackSet(ctx, api.CreateStackSetRequest{Name: "Prefs", Template: smallTemplate, FileName: "prefs.yaml"}); err != nil {
		t.Fatal(err)
	}
	if ops, err := c.StackSetOperations(ctx, "Prefs"); err != nil || len(ops) != 0 {
		t.Fatalf("operations of a stack set never deployed: %+v, %v", ops, err)
	}
	deploy, err := c.DeployStackSet(ctx, "Prefs", api.StackTargetsRequest{Targets: []string{prod.ID}})
	if err != nil || len(deploy.Accounts) != 2 || deploy.ID == "" || deploy.By != by {
		t.Fatalf("deploy: %+v, %v", deploy, err)
	}

	// web's administrator (the role the management account assumes
	// there) changes the preferences: drift, in the operation and in the
	// instance.
	role, err := c.AssumeRole(ctx, web.ID, api.AssumeRoleRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := client.LoadConfig(e.home)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Token = role.Token
	member, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := member.SetPreferences(ctx, memberPrefs); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DetectStackSetDrift(ctx, "Prefs"); err != nil {
		t.Fatal(err)
	}
	ins, err := c.StackInstances(ctx, "Prefs")
	if err != nil || len(ins) != 2 {
		t.Fatalf("instances: %+v, %v", ins, err)
	}
	for _, in := range ins {
		switch {
		case in.Drift == nil || in.DriftCheckedAt == nil:
			t.Errorf("instance in %s has no drift after detection: %+v", in.Account, in)
		case in.Account == db.ID && (in.Status != api.StackCurrent || in.Drift.Status != api.DriftInSync):
			t.Errorf("db's instance: %+v, drift %+v", in, in.Drift)
		case in.Account == web.ID:
			d := in.Drift
			if in.Status != api.StackDrifted || d.Status != api.DriftDrifted || len(d.Resources) != 1 || d.Resources[0].Status != api.DriftModified ||
				len(d.Resources[0].Differences) != 1 || d.Resources[0].Differences[0].Path != "Content.inputs.idleSessionTimeout" ||
				jsonText(d.Resources[0].Differences[0].Expected) != "20" || jsonText(d.Resources[0].Differences[0].Actual) != "45" {
				t.Errorf("web's instance: %+v, drift %+v", in, d)
			}
		}
	}

	// An account created in Prod gets the stack set at once: an operation
	// too, by whoever placed it.
	web2, err := c.CreateOrgAccount(ctx, api.CreateAccountRequest{Name: "web-2", Parent: prod.ID})
	if err != nil {
		t.Fatal(err)
	}
	ops, err := c.StackSetOperations(ctx, "Prefs")
	if err != nil || len(ops) != 3 {
		t.Fatalf("operations: %+v, %v; want 3", ops, err)
	}
	auto, drift, first := ops[0], ops[1], ops[2]
	if auto.Action != "DEPLOY" || auto.By != by || len(auto.Accounts) != 1 || auto.Accounts[0] != (api.StackOperationAccount{Account: web2.ID, Status: api.StackOpSucceeded}) {
		t.Errorf("the automatic deployment: %+v", auto)
	}
	wantDrift := []api.StackOperationAccount{
		{Account: web.ID, Status: api.StackOpSucceeded, Reason: "DRIFTED: changed in the account: Preferences changed (Content.inputs.idleSessionTimeout)"},
		{Account: db.ID, Status: api.StackOpSucceeded, Reason: api.DriftInSync},
	}
	slices.SortFunc(wantDrift, func(a, b api.StackOperationAccount) int { return strings.Compare(a.Account, b.Account) })
	if drift.Action != "DETECT_DRIFT" || drift.By != by || !slices.Equal(drift.Accounts, wantDrift) || drift.EndedAt.Before(drift.StartedAt) {
		t.Errorf("the drift detection: %+v, want accounts %+v", drift, wantDrift)
	}
	if first.ID != deploy.ID || first.Action != "DEPLOY" || first.By != by || !slices.Equal(first.Accounts, deploy.Accounts) || !first.StartedAt.Equal(deploy.StartedAt.Truncate(time.Microsecond)) {
		t.Errorf("the first deployment, as listed: %+v; as it answered: %+v", first, deploy)
	}
	if out := e.mustRun(ctx, "org", "stacksets", "operations", "Prefs"); !strings.Contains(out, "DETECT_DRIFT") || !strings.Contains(out, "2 SUCCEEDED") || !strings.Contains(out, deploy.ID) {
		t.Errorf("stacksets operations printed:\n%s", out)
	}

	// An update puts web's preferences back: its drift is gone with it.
	if _, err := c.UpdateStackSet(ctx, "Prefs", api.UpdateStackSetRequest{Parameters: map[string]string{"IdleTimeout": "30"}, OperationPreferences: api.OperationPreferences{MaxConcurrent: 3}}); err != nil {
		t.Fatal(err)
	}
	ins, _ = c.StackInstances(ctx, "Prefs")
	for _, in := range ins {
		if in.Status != api.StackCurrent || in.Drift != nil || in.DriftCheckedAt != nil {
			t.Errorf("instance in %s after the update: %+v", in.Account, in)
		}
	}

	// Only the newest twenty are kept.
	for range 17 {
		if _, err := c.DetectStackSetDrift(ctx, "Prefs"); err != nil {
			t.Fatal(err)
		}
	}
	ops, err = c.StackSetOperations(ctx, "Prefs")
	if err != nil || len(ops) != 20 || ops[len(ops)-1].ID != drift.ID || ops[len(ops)-2].ID != auto.ID || ops[len(ops)-3].Action != "UPDATE" {
		t.Fatalf("after 21 operations: %d listed, %v; want the newest 20, the first deployment gone", len(ops), err)
	}

	// A member account may not see them.
	var cerr *client.Error
	if _, err := member.StackSetOperations(ctx, "Prefs"); !errors.As(err, &cerr) || cerr.Code != api.CodeNotManagementAccount {
		t.Errorf("a member listing the operations: %v, want %s", err, api.CodeNotManagementAccount)
	}
	if _, err := c.StackSetOperations(ctx, "Nope"); !errors.As(err, &cerr) || cerr.Code != api.CodeStackSetNotFound {
		t.Errorf("operations of no stack set: %v, want %s", err, api.CodeStackSetNotFound)
	}

	// The history goes with the stack set.
	if _, err := c.RemoveStackInstances(ctx, "Prefs", api.StackTargetsRequest{Targets: []string{prod.ID}, OperationPreferences: api.OperationPreferences{MaxConcurrent: 3}}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteStackSet(ctx, "Prefs"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateStackSet(ctx, api.CreateStackSetRequest{Name: "Prefs", Template: smallTemplate}); err != nil {
		t.Fatal(err)
	}
	if ops, err := c.StackSetOperations(ctx, "Prefs"); err != nil || len(ops) != 0 {
		t.Errorf("operations of a stack set made again: %+v, %v", ops, err)
	}
}
