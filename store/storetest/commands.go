package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/store"
)

func newCommand(account, id string, requested time.Time) store.Command {
	return store.Command{
		Account: account, ID: id, Owner: "alice", DocumentName: "AWS-RunShellScript",
		Parameters: map[string]string{"commands": `["uptime","df -h"]`, "workingDirectory": "/srv"},
		Targets:    `[{"Key":"tag:env","Values":["prod"]}]`, Comment: "ünï check",
		MaxConcurrency: "10%", MaxErrors: "0", Script: "uptime\ndf -h", WorkingDirectory: "/srv", Timeout: 3600 * time.Second,
		Status: "Pending", StatusDetails: "Pending", TargetCount: 2, RequestedAt: requested,
	}
}

func newInvocation(c store.Command, node string, seq int) store.CommandInvocation {
	return store.CommandInvocation{Account: c.Account, CommandID: c.ID, NodeID: node, Seq: seq, NodeName: "web-" + node[len(node)-1:],
		Status: "Pending", StatusDetails: "Pending"}
}

func testCommands(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := newCommand(acctA, "11111111-2222-3333-4444-555555555555", t0)
	invs := []store.CommandInvocation{newInvocation(c, "mi-00000000000000001", 1), newInvocation(c, "mi-00000000000000002", 0)}
	if err := s.CreateCommand(ctx, c, invs); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetCommand(ctx, acctA, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "GetCommand", got, c)
	// Another account does not see it; an id is taken once.
	if _, err := s.GetCommand(ctx, acctB, c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetCommand of another account: %v, want ErrNotFound", err)
	}
	if err := s.CreateCommand(ctx, c, nil); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateCommand twice: %v, want ErrConflict", err)
	}
	if err := s.CreateCommand(ctx, newCommand(acctUnknown, "x", t0), nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateCommand in no account: %v, want ErrNotFound", err)
	}
	// All or none: a bad invocation leaves no command behind.
	bad := newCommand(acctA, "bad", t0)
	dup := newInvocation(bad, "mi-00000000000000001", 0)
	if err := s.CreateCommand(ctx, bad, []store.CommandInvocation{dup, dup}); err == nil {
		t.Error("CreateCommand with the same node twice succeeded")
	}
	if _, err := s.GetCommand(ctx, acctA, "bad"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a command whose invocations failed was stored: %v", err)
	}

	gotInvs, err := s.ListCommandInvocations(ctx, acctA, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkList(t, "ListCommandInvocations", gotInvs, []store.CommandInvocation{invs[1], invs[0]})

	// An invocation runs and ends; the command with it.
	in := invs[0]
	in.Status, in.StatusDetails, in.SessionID, in.StartedAt = "InProgress", "InProgress", "alice-0123456789abcdef0", t0.Add(time.Second)
	if err := s.UpdateCommandInvocation(ctx, in); err != nil {
		t.Fatal(err)
	}
	in.Status, in.StatusDetails, in.ExitCode, in.EndedAt = "Failed", "Failed", exitCode(3), t0.Add(2*time.Second)
	in.Stdout, in.Stderr, in.StdoutBytes, in.StderrBytes = "partial ✓\n", strings.Repeat("e", 100), 1<<40, 100
	if err := s.UpdateCommandInvocation(ctx, in); err != nil {
		t.Fatal(err)
	}
	gotInvs, _ = s.ListCommandInvocations(ctx, acctA, c.ID)
	checkList(t, "ListCommandInvocations after updates", gotInvs, []store.CommandInvocation{invs[1], in})
	c.Status, c.StatusDetails, c.CompletedCount, c.ErrorCount, c.EndedAt = "Failed", "Failed", 2, 1, t0.Add(3*time.Second)
	if err := s.UpdateCommand(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetCommand(ctx, acctA, c.ID)
	checkEqual(t, "GetCommand after UpdateCommand", got, c)

	missing := newInvocation(c, "mi-00000000000000009", 5)
	if err := s.UpdateCommandInvocation(ctx, missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateCommandInvocation of no invocation: %v, want ErrNotFound", err)
	}
	other := c
	other.Account = acctB
	if err := s.UpdateCommand(ctx, other); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateCommand in another account: %v, want ErrNotFound", err)
	}
}

func testListCommands(t *testing.T, s store.Store) {
	ctx := t.Context()
	var all []store.Command
	for i, acct := range []string{acctA, acctA, acctB, acctA} {
		c := newCommand(acct, string(rune('a'+i))+"-command", t0.Add(time.Duration(i)*time.Minute))
		if i == 1 {
			c.Owner = "bob"
			c.EndedAt, c.Status = t0.Add(time.Hour), "Success"
		}
		if err := s.CreateCommand(ctx, c, nil); err != nil {
			t.Fatal(err)
		}
		all = append(all, c)
	}
	yes, no := true, false
	tests := []struct {
		name string
		f    store.CommandFilter
		want []store.Command
	}{
		{"account, newest first", store.CommandFilter{Account: acctA}, []store.Command{all[3], all[1], all[0]}},
		{"every account", store.CommandFilter{}, []store.Command{all[3], all[2], all[1], all[0]}},
		{"running", store.CommandFilter{Active: &yes}, []store.Command{all[3], all[2], all[0]}},
		{"ended", store.CommandFilter{Account: acctA, Active: &no}, []store.Command{all[1]}},
		{"owner", store.CommandFilter{Account: acctA, Owner: "alice"}, []store.Command{all[3], all[0]}},
		{"limit", store.CommandFilter{Account: acctA, Limit: 2}, []store.Command{all[3], all[1]}},
	}
	for _, tt := range tests {
		got, err := s.ListCommands(ctx, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		checkList(t, "ListCommands "+tt.name, got, tt.want)
	}
}
