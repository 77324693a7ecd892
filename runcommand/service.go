package runcommand

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/postern/postern/api"
	"github.com/postern/postern/document"
	"github.com/postern/postern/httpapi"
	"github.com/postern/postern/store"
)

func invalid(code, format string, args ...any) error {
	return httpapi.Errorf(http.StatusBadRequest, code, format, args...)
}

// Send sends a command of account, as user: it checks the request,
// resolves the document and the targets, authorizes it (Deps.Authorize),
// stores the command with an invocation per node, and starts carrying it
// out. It returns the command's id at once; the command runs on.
//
// It is the one way commands are sent: the API's POST /v1/commands and,
// for a rule's target, whoever holds the service.
func (s *Service) Send(ctx context.Context, account, user string, req api.SendCommandRequest) (string, error) {
	if s.ctx == nil {
		return "", errors.New("runcommand: the service has not been started")
	}
	conc, errs, err := limits(&req)
	if err != nil {
		return "", err
	}
	if n := utf8.RuneCountInString(req.Comment); n > MaxComment || !utf8.ValidString(req.Comment) {
		return "", invalid(api.CodeValidationException, "comment: %d characters; the limit is %d", n, MaxComment)
	}
	targets, err := requestTargets(req)
	if err != nil {
		return "", err
	}
	doc, ok := document.BuiltinCommand(req.DocumentName)
	if !ok {
		if req.DocumentName == "" {
			return "", invalid(api.CodeInvalidDocument, "documentName: required (AWS-RunShellScript)")
		}
		return "", httpapi.Errorf(http.StatusNotFound, api.CodeInvalidDocument, "document %q is not a command document Postern has: use AWS-RunShellScript (Postern-RunShellScript)", clip(req.DocumentName))
	}
	params, err := documentParameters(doc, req.Parameters)
	if err != nil {
		return "", err
	}
	resolved, err := doc.Resolve(params)
	if err != nil {
		return "", invalid(api.CodeInvalidParameters, "document %s: %v", req.DocumentName, err)
	}
	if len(resolved.Script) > MaxScript {
		return "", invalid(api.CodeInvalidParameters, "parameters: the commands are %d bytes; the limit is %d", len(resolved.Script), MaxScript)
	}
	nodes, err := s.targetNodes(ctx, account, targets)
	if err != nil {
		return "", err
	}
	if err := s.Authorize(ctx, account, user, req.DocumentName, nodes); err != nil {
		return "", err
	}
	tj, err := json.Marshal(targets)
	if err != nil {
		return "", err
	}
	c := store.Command{
		Account: account, ID: uuid.NewString(), Owner: user, DocumentName: req.DocumentName, Parameters: params,
		Targets: string(tj), Comment: req.Comment, MaxConcurrency: req.MaxConcurrency, MaxErrors: req.MaxErrors,
		Script: resolved.Script, WorkingDirectory: resolved.WorkingDirectory, Timeout: resolved.Timeout,
		Status: StatusPending, StatusDetails: StatusPending, TargetCount: len(nodes), RequestedAt: s.Now(),
	}
	invs := make([]store.CommandInvocation, len(nodes))
	for i, n := range nodes {
		invs[i] = store.CommandInvocation{Account: account, CommandID: c.ID, NodeID: n.ID, Seq: i, NodeName: n.Name,
			Status: StatusPending, StatusDetails: StatusPending}
	}
	if err := s.Store.CreateCommand(ctx, c, invs); err != nil {
		return "", err
	}
	s.logf("runcommand: %s sent command %s (%s) to %d nodes: max concurrency %s (%d), max errors %s (%d)",
		user, c.ID, c.DocumentName, len(nodes), c.MaxConcurrency, concurrencyOf(conc, len(nodes)), c.MaxErrors, errs.Of(len(nodes)))
	s.audit(ctx, c, "CommandSent", fmt.Sprintf("document %s on %d nodes (%s), max concurrency %s, max errors %s; %s",
		c.DocumentName, len(nodes), nodeList(nodes), c.MaxConcurrency, c.MaxErrors, c.Comment))
	if s.Claim != nil {
		s.Claim(ctx, c.Account, c.ID) // new: this server's
	}
	r := s.newRun(c, invs)
	r.commandEvent(ctx)
	s.launch(r)
	return c.ID, nil
}

// limits checks the request's limits, filling in the defaults.
func limits(req *api.SendCommandRequest) (conc, errs Limit, err error) {
	if req.MaxConcurrency == "" {
		req.MaxConcurrency = DefaultMaxConcurrency
	}
	if req.MaxErrors == "" {
		req.MaxErrors = DefaultMaxErrors
	}
	if conc, err = ParseMaxConcurrency(req.MaxConcurrency); err != nil {
		return conc, errs, invalid(api.CodeValidationException, "%v", err)
	}
	if errs, err = ParseMaxErrors(req.MaxErrors); err != nil {
		return conc, errs, invalid(api.CodeValidationException, "%v", err)
	}
	return conc, errs, nil
}

// requestTargets is the request's nodes as targets: its node ids as an
// InstanceIds target, or its targets.
func requestTargets(req api.SendCommandRequest) ([]api.CommandTarget, error) {
	switch {
	case len(req.NodeIDs) > 0 && len(req.Targets) > 0:
		return nil, invalid(api.CodeInvalidTarget, "instanceIds and targets: give one or the other")
	case len(req.NodeIDs) == 0 && len(req.Targets) == 0:
		return nil, invalid(api.CodeInvalidTarget, "targets: required: node ids (instanceIds) or targets that pick nodes by tag")
	}
	ts := req.Targets
	if len(req.NodeIDs) > 0 {
		ts = []api.CommandTarget{{Key: KeyInstanceIDs, Values: req.NodeIDs}}
	}
	if err := CheckTargets(ts); err != nil {
		code := api.CodeInvalidTarget
		if len(req.NodeIDs) > 0 {
			code = api.CodeInvalidInstanceID
		}
		return nil, invalid(code, "%v", err)
	}
	return ts, nil
}

// documentParameters turns the request's parameters, lists of values as
// Run Command takes them, into what the document resolves: a StringList
// parameter's values as a JSON list, any other parameter's one value.
func documentParameters(doc *document.CommandDocument, in map[string][]string) (map[string]string, error) {
	size := 0
	out := make(map[string]string, len(in))
	for _, name := range slices.Sorted(maps.Keys(in)) {
		vals := in[name]
		for _, v := range vals {
			size += len(v)
		}
		p, declared := doc.Parameters[name]
		switch {
		case !declared:
			out[name] = strings.Join(vals, ",") // Resolve says it is not a parameter, and what is
		case p.Type == document.StringList:
			if vals == nil {
				vals = []string{}
			}
			b, _ := json.Marshal(vals)
			out[name] = string(b)
		case len(vals) != 1:
			return nil, invalid(api.CodeInvalidParameters, "parameter %s: takes one value, not %d", name, len(vals))
		default:
			out[name] = vals[0]
		}
	}
	if size > maxParameters {
		return nil, invalid(api.CodeInvalidParameters, "parameters: %d bytes of values; the limit is %d", size, maxParameters)
	}
	return out, nil
}

// targetNodes resolves targets to the account's nodes: each node id of
// an InstanceIds target must be one of them; the nodes that match every
// target are picked, by name then id (node ids given: in their order).
func (s *Service) targetNodes(ctx context.Context, account string, ts []api.CommandTarget) ([]store.Node, error) {
	all, err := s.Nodes.ListNodes(ctx, account)
	if err != nil {
		return nil, err
	}
	byID := map[string]store.Node{}
	for _, n := range all {
		byID[n.ID] = n
	}
	var picked []store.Node
	if ts[0].Key == KeyInstanceIDs && len(ts) == 1 {
		for _, id := range ts[0].Values {
			n, ok := byID[id]
			if !ok {
				return nil, httpapi.Errorf(http.StatusNotFound, api.CodeInvalidInstanceID, "node %s is not registered in account %s: see `postern nodes`", id, account)
			}
			picked = append(picked, n)
		}
	} else {
		for _, t := range ts {
			if t.Key != KeyInstanceIDs {
				continue
			}
			for _, id := range t.Values {
				if _, ok := byID[id]; !ok {
					return nil, httpapi.Errorf(http.StatusNotFound, api.CodeInvalidInstanceID, "node %s is not registered in account %s: see `postern nodes`", id, account)
				}
			}
		}
		for _, n := range all {
			if Matches(ts, n) {
				picked = append(picked, n)
			}
		}
		slices.SortFunc(picked, func(a, b store.Node) int {
			if c := strings.Compare(a.Name, b.Name); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
	}
	switch {
	case len(picked) == 0:
		return nil, httpapi.Errorf(http.StatusNotFound, api.CodeInvalidTarget, "no node of account %s matches the targets %s", account, describeTargets(ts))
	case len(picked) > MaxNodes:
		return nil, invalid(api.CodeInvalidTarget, "the targets match %d nodes; a command runs on at most %d (narrow the targets, or send several)", len(picked), MaxNodes)
	}
	return picked, nil
}

func describeTargets(ts []api.CommandTarget) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, t.Key+"="+strings.Join(t.Values, ","))
	}
	return strings.Join(parts, " and ")
}

// nodeList names nodes for the audit trail, the first few.
func nodeList(ns []store.Node) string {
	var parts []string
	for i, n := range ns {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("and %d more", len(ns)-i))
			break
		}
		parts = append(parts, n.ID)
	}
	return strings.Join(parts, " ")
}

// Cancel cancels a running command of account: its nodes not started
// never will be, those running are asked to end (Cancelled). The caller
// has authorized it.
func (s *Service) Cancel(ctx context.Context, account, id, by string) (store.Command, error) {
	c, err := s.Store.GetCommand(ctx, account, id)
	if err != nil {
		return c, err
	}
	if !c.EndedAt.IsZero() {
		return c, httpapi.Errorf(http.StatusConflict, api.CodeCommandEnded, "command %s already ended (%s)", id, c.Status)
	}
	s.mu.Lock()
	r := s.runs[runKey(account, id)]
	s.mu.Unlock()
	if r == nil {
		// Not carried out by this server: record the request, which the
		// next start carries out (run.recover).
		c.Status, c.StatusDetails = StatusCancelling, StatusCancelling
		if err := s.Store.UpdateCommand(ctx, c); err != nil {
			return c, err
		}
	} else {
		r.requestCancel()
		c.Status, c.StatusDetails = StatusCancelling, StatusCancelling
	}
	s.logf("runcommand: %s cancelled command %s", by, id)
	s.audit(ctx, c, "CommandCancelled", "by "+by)
	return c, nil
}

// Command returns a command of account and its invocations.
func (s *Service) Command(ctx context.Context, account, id string) (store.Command, []store.CommandInvocation, error) {
	c, err := s.Store.GetCommand(ctx, account, id)
	if err != nil {
		return c, nil, err
	}
	invs, err := s.Store.ListCommandInvocations(ctx, account, id)
	return c, invs, err
}

// APICommand is a command as the API shows it, with its invocations if
// invs is not nil.
func APICommand(c store.Command, invs []store.CommandInvocation) api.Command {
	out := api.Command{
		ID: c.ID, DocumentName: c.DocumentName, Owner: c.Owner, Comment: c.Comment, Parameters: apiParameters(c.Parameters),
		MaxConcurrency: c.MaxConcurrency, MaxErrors: c.MaxErrors, TimeoutSeconds: int(c.Timeout.Seconds()),
		Status: c.Status, StatusDetails: c.StatusDetails, TargetCount: c.TargetCount, CompletedCount: c.CompletedCount,
		ErrorCount: c.ErrorCount, RequestedAt: c.RequestedAt, Targets: []api.CommandTarget{},
	}
	json.Unmarshal([]byte(c.Targets), &out.Targets) // stored by Send
	if !c.EndedAt.IsZero() {
		t := c.EndedAt
		out.EndedAt = &t
	}
	for _, in := range invs {
		ai := api.CommandInvocation{
			NodeID: in.NodeID, NodeName: in.NodeName, Status: in.Status, StatusDetails: in.StatusDetails,
			SessionID: in.SessionID, ExitCode: in.ExitCode,
			StandardOutputContent: in.Stdout, StandardErrorContent: in.Stderr,
			StandardOutputBytes: in.StdoutBytes, StandardErrorBytes: in.StderrBytes,
			OutputTruncated: truncated(in.Stdout, in.StdoutBytes) || truncated(in.Stderr, in.StderrBytes),
		}
		if !in.StartedAt.IsZero() {
			t := in.StartedAt
			ai.StartedAt = &t
		}
		if !in.EndedAt.IsZero() {
			t := in.EndedAt
			ai.EndedAt = &t
		}
		out.Invocations = append(out.Invocations, ai)
	}
	return out
}

// truncated reports whether text, a stream's beginning, is not all of
// the stream's n bytes: it is as long as a result keeps, and the stream
// was longer (or held bytes that are not text, shown as U+FFFD, which the
// count cannot tell apart from more).
func truncated(text string, n int64) bool {
	if utf8.RuneCountInString(text) < MaxOutput {
		return false
	}
	return n > int64(len(text)) || strings.ContainsRune(text, utf8.RuneError)
}

// apiParameters shows stored parameters as lists of values again.
func apiParameters(p map[string]string) map[string][]string {
	if len(p) == 0 {
		return nil
	}
	out := make(map[string][]string, len(p))
	for k, v := range p {
		var list []string
		if strings.HasPrefix(v, "[") && json.Unmarshal([]byte(v), &list) == nil {
			out[k] = list
			continue
		}
		out[k] = []string{v}
	}
	return out
}
