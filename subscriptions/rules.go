package subscriptions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/eventpattern"
	"github.com/postern/postern/events"
	"github.com/postern/postern/firehose"
	"github.com/postern/postern/httpapi"
	"github.com/postern/postern/lazyregexp"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/runcommand"
	"github.com/postern/postern/webhook"
)

// DestRule is the destination of a rule's target's source: Deps.Send
// gets one event per record, the target's settings as the stream's
// Target (a RuleTarget's JSON, with the webhook's secret).
const DestRule = "Rule"

// maxTargets is EventBridge's limit of targets per rule, and maxRules
// its limit of rules per event bus (an account here).
const (
	maxTargets = 5
	maxRules   = 300
)

// RuleCursor names a rule's target's cursor in the account's event group,
// and the stream its events go through.
func RuleCursor(rule, target string) string { return "rule:" + rule + ":" + target }

// RuleOf splits what RuleCursor made.
func RuleOf(cursor string) (rule, target string) {
	rest, _ := strings.CutPrefix(cursor, "rule:")
	rule, target, _ = strings.Cut(rest, ":")
	return rule, target
}

var reTargetID = lazyregexp.New(`^[\.\-_A-Za-z0-9]{1,64}$`)

// eventMatcher matches events' messages (EventBridge events' JSON).
type eventMatcher struct{ p *eventpattern.Pattern }

func (m eventMatcher) Match(message string) bool {
	ok, err := m.p.MatchJSON([]byte(message))
	return err == nil && ok
}

func ruleEntity(account, name string) authz.Entity { return authz.Named("Rule", account, name) }

// ruleTargets decodes a rule's stored targets.
func ruleTargets(r logstore.Rule) ([]api.RuleTarget, error) {
	var ts []api.RuleTarget
	if err := json.Unmarshal([]byte(r.Targets), &ts); err != nil {
		return nil, fmt.Errorf("rule %s: its targets: %w", r.Name, err)
	}
	return ts, nil
}

// ruleSources are the sources of every enabled rule's targets.
func (h *Handlers) ruleSources(ctx context.Context) ([]firehose.Source, error) {
	rs, err := h.Logs.Rules(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []firehose.Source
	for _, r := range rs {
		if r.State != "ENABLED" {
			continue
		}
		p, err := eventpattern.Parse([]byte(r.Pattern))
		if err != nil {
			h.Logf("subscriptions: rule %s: %v", r.Name, err)
			continue
		}
		ts, err := ruleTargets(r)
		if err != nil {
			h.Logf("subscriptions: %v", err)
			continue
		}
		for _, t := range ts {
			cursor := RuleCursor(r.Name, t.ID)
			cur, _, err := h.Logs.Cursor(ctx, r.Account, events.LogGroup, cursor)
			if errors.Is(err, logstore.ErrNotFound) {
				continue // no events yet
			}
			if err != nil {
				return nil, err
			}
			target, err := json.Marshal(t)
			if err != nil {
				return nil, err
			}
			s := firehose.Stream{Account: r.Account, Name: cursor, Destination: DestRule, Target: target, PerEvent: true,
				BufferBytes: firehose.MinBufferBytes, Compression: firehose.Uncompressed}
			out = append(out, firehose.Source{Account: r.Account, Group: events.LogGroup, Filter: cursor, Pattern: eventMatcher{p}, Cursor: cur, Stream: s})
		}
	}
	return out, nil
}

// checkTarget says what is wrong with a target, naming the field.
func checkTarget(i int, t api.RuleTarget) error {
	at := fmt.Sprintf("targets[%d]", i)
	if !reTargetID.MatchString(t.ID) {
		return fmt.Errorf("%s.id %q: 1 to 64 letters, digits, '.', '-' or '_'", at, t.ID)
	}
	kinds := 0
	for _, set := range []bool{t.Webhook != nil, t.SNSTopicARN != "", t.RunCommand != nil} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds != 1:
		return fmt.Errorf("%s: one of webhook, snsTopicArn and runCommand", at)
	case t.RunCommand != nil:
		rc := t.RunCommand
		if rc.DocumentName == "" {
			return fmt.Errorf("%s.runCommand.documentName: required (AWS-RunShellScript)", at)
		}
		if (len(rc.NodeIDs) == 0) == (len(rc.Targets) == 0) {
			return fmt.Errorf("%s.runCommand: one of instanceIds and targets", at)
		}
		if err := runcommand.CheckTargets(rc.Targets); err != nil {
			return fmt.Errorf("%s.runCommand.%w", at, err)
		}
	case t.Webhook != nil:
		e := webhook.Endpoint{URL: t.Webhook.URL, Secret: t.Webhook.Secret, CAPEM: t.Webhook.CAPEM, Format: t.Webhook.Format}
		if e.Format == webhook.FormatAWSLogs {
			return fmt.Errorf("%s.webhook.format: json or slack (awslogs is for log events)", at)
		}
		if err := e.Check(); err != nil {
			return fmt.Errorf("%s.webhook: %w", at, err)
		}
	case !reTopicARN.MatchString(t.SNSTopicARN):
		return fmt.Errorf("%s.snsTopicArn %q: not an SNS topic's ARN (arn:aws:sns:REGION:ACCOUNT:NAME)", at, t.SNSTopicARN)
	}
	if tr := t.InputTransformer; tr != nil {
		if tr.InputTemplate == "" {
			return fmt.Errorf("%s.inputTransformer.inputTemplate: required", at)
		}
		for name, path := range tr.InputPathsMap {
			if !rePathName.MatchString(name) {
				return fmt.Errorf("%s.inputTransformer.inputPathsMap: name %q: letters, digits, '_' and '-'", at, name)
			}
			if _, err := ParseJSONPath(path); err != nil {
				return fmt.Errorf("%s.inputTransformer.inputPathsMap.%s: %v", at, name, err)
			}
		}
		for _, m := range rePlaceholder.FindAllStringSubmatch(tr.InputTemplate, -1) {
			if _, ok := tr.InputPathsMap[m[1]]; !ok && !strings.HasPrefix(m[1], "aws.events.") {
				return fmt.Errorf("%s.inputTransformer.inputTemplate: <%s> names no input path", at, m[1])
			}
		}
	}
	return nil
}

var (
	reTopicARN    = lazyregexp.New(`^arn:[a-z-]+:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$`)
	rePathName    = lazyregexp.New(`^[A-Za-z0-9_-]{1,64}$`)
	rePlaceholder = lazyregexp.New(`<([A-Za-z0-9_.-]+)>`)
)

func (h *Handlers) putRule(w http.ResponseWriter, r *http.Request) error {
	c := httpapi.CallerOf(r)
	var req api.Rule
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if err := h.Authorize(r, authz.PutRule, ruleEntity(c.Account, req.Name)); err != nil {
		return err
	}
	if req.State == "" {
		req.State = "ENABLED"
	}
	if _, err := eventpattern.Parse([]byte(req.EventPattern)); err != nil {
		return invalid("eventPattern: %v", err)
	}
	if len(req.Targets) > maxTargets {
		return invalid("targets: %d: at most %d", len(req.Targets), maxTargets)
	}
	seen := map[string]bool{}
	for i, t := range req.Targets {
		if err := checkTarget(i, t); err != nil {
			return invalid("%v", err)
		}
		if seen[t.ID] {
			return invalid("targets[%d].id %q: used twice", i, t.ID)
		}
		if t.RunCommand != nil {
			// Its commands run as whoever puts the rule, who must be
			// allowed to send them now.
			if err := h.Authorize(r, authz.SendCommand, authz.AccountEntity(c.Account)); err != nil {
				return err
			}
			req.Targets[i].RunAs = c.User.Name
		}
		if h.CheckTarget != nil {
			if err := h.CheckTarget(r.Context(), t); err != nil {
				return httpapi.Errorf(http.StatusBadRequest, api.CodeDestinationCheckFailed, "targets[%d] (%s): %v", i, t.ID, err)
			}
		}
		seen[t.ID] = true
		t.Backlog = 0
	}
	// A secret left out keeps the one the target has: listing never
	// shows it, so a rule read, edited and put back keeps working.
	old, err := h.Logs.Rules(r.Context(), c.Account)
	if err != nil {
		return err
	}
	exists := false
	for _, o := range old {
		exists = exists || o.Name == req.Name
	}
	if !exists && len(old) >= maxRules {
		return httpapi.Errorf(http.StatusBadRequest, api.CodeLimitExceededException, "account %s has %d rules: at most %d", c.Account, len(old), maxRules)
	}
	for _, o := range old {
		if o.Name != req.Name {
			continue
		}
		ots, _ := ruleTargets(o)
		for i, t := range req.Targets {
			for _, ot := range ots {
				if t.Webhook != nil && t.Webhook.Secret == "" && ot.ID == t.ID && ot.Webhook != nil && ot.Webhook.URL == t.Webhook.URL {
					req.Targets[i].Webhook.Secret = ot.Webhook.Secret
				}
			}
		}
	}
	targets, err := json.Marshal(req.Targets)
	if err != nil {
		return err
	}
	rule := logstore.Rule{Account: c.Account, Name: req.Name, Description: req.Description, Pattern: req.EventPattern, State: req.State,
		Targets: string(targets), CreatedAt: h.Now()}
	if err := h.Logs.PutRule(r.Context(), rule); err != nil {
		return storeError(err, "rule "+req.Name)
	}
	// A new target sees the events from now on, as EventBridge's does.
	last, err := h.Logs.LastEventID(r.Context(), c.Account, events.LogGroup)
	if err != nil && !errors.Is(err, logstore.ErrNotFound) {
		return err
	}
	if err == nil {
		for _, t := range req.Targets {
			cursor := RuleCursor(req.Name, t.ID)
			if _, ok, err := h.Logs.Cursor(r.Context(), c.Account, events.LogGroup, cursor); err != nil {
				return err
			} else if !ok {
				if err := h.Logs.SaveCursor(r.Context(), c.Account, events.LogGroup, cursor, last); err != nil {
					return err
				}
			}
		}
	}
	h.Kick()
	h.Logf("subscriptions: %s put rule %s (%s, %d targets)", c.User.Name, req.Name, req.State, len(req.Targets))
	httpapi.WriteJSON(w, http.StatusOK, apiRule(rule, req.Targets))
	return nil
}

// apiRule is a rule as the API shows it: never a webhook's secret.
func apiRule(r logstore.Rule, ts []api.RuleTarget) api.Rule {
	out := api.Rule{Name: r.Name, Description: r.Description, EventPattern: r.Pattern, State: r.State, CreationTime: r.CreatedAt, Targets: []api.RuleTarget{}}
	for _, t := range ts {
		if t.Webhook != nil {
			hook := *t.Webhook
			hook.Secret = ""
			t.Webhook = &hook
		}
		out.Targets = append(out.Targets, t)
	}
	return out
}

func (h *Handlers) listRules(w http.ResponseWriter, r *http.Request) error {
	c := httpapi.CallerOf(r)
	c.Checked() // each rule is checked below
	rs, err := h.Logs.Rules(r.Context(), c.Account)
	if err != nil {
		return err
	}
	out := []api.Rule{}
	for _, rule := range rs {
		if h.Authorize(r, authz.DescribeRules, ruleEntity(c.Account, rule.Name)) != nil {
			continue
		}
		ts, err := ruleTargets(rule)
		if err != nil {
			return err
		}
		for i, t := range ts {
			cur, ok, err := h.Logs.Cursor(r.Context(), c.Account, events.LogGroup, RuleCursor(rule.Name, t.ID))
			if err != nil || !ok {
				continue
			}
			if n, _, err := h.Logs.Backlog(r.Context(), c.Account, events.LogGroup, cur); err == nil {
				ts[i].Backlog = n
			}
		}
		out = append(out, apiRule(rule, ts))
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handlers) deleteRule(w http.ResponseWriter, r *http.Request) error {
	c := httpapi.CallerOf(r)
	name := r.URL.Query().Get("name")
	if err := h.Authorize(r, authz.DeleteRule, ruleEntity(c.Account, name)); err != nil {
		return err
	}
	rs, err := h.Logs.Rules(r.Context(), c.Account)
	if err != nil {
		return err
	}
	if err := h.Logs.DeleteRule(r.Context(), c.Account, name); err != nil {
		return storeError(err, "rule "+name)
	}
	// Its cursors go too: a rule made again under the name starts anew.
	for _, rule := range rs {
		if rule.Name != name {
			continue
		}
		ts, _ := ruleTargets(rule)
		for _, t := range ts {
			if err := h.Logs.DeleteCursor(r.Context(), c.Account, events.LogGroup, RuleCursor(name, t.ID)); err != nil && !errors.Is(err, logstore.ErrNotFound) {
				return err
			}
		}
	}
	h.Kick()
	w.WriteHeader(http.StatusNoContent)
	return nil
}
