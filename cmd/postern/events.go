package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/eventpattern"
)

func newEventsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Event rules on what happens in Postern (EventBridge's events and patterns)"}
	rules := &cobra.Command{Use: "rules", Short: "Send the events a pattern matches to webhooks and SNS topics"}

	var r api.Rule
	var patternFile, targetsFile string
	put := &cobra.Command{
		Use:   "put NAME --pattern-file F --targets-file T",
		Short: "Create or replace an event rule",
		Long: `Create or replace an event rule: the account's events (its /postern/events
log group, EventBridge's envelope) that the pattern (EventBridge's event
pattern language) matches go to each target, at least once and in order.
A new target sees the events that come after it. The targets file is a JSON
list of at most five:

  [{"id": "notify", "snsTopicArn": "arn:aws:sns:us-east-1:123456789012:prod-sessions"},
   {"id": "chat", "webhook": {"url": "https://hooks.example/T0", "secret": "...", "format": "slack"},
    "inputTransformer": {"inputPathsMap": {"who": "$.detail.userIdentity.arn", "node": "$.detail.target.name"},
                         "inputTemplate": "<who> started a session on <node>"}}]

A webhook's format is json (the event, or the transformer's output) or slack
({"text": ...}); it is signed as delivery streams' webhooks are. An event a
target refuses for good (a 4xx; a topic that does not exist) goes to the
/postern/events/dead-letter log group with the reason.`,
		Args: exactArgs(1, "the rule's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r.Name = args[0]
			if patternFile == "" {
				return usagef("--pattern-file is required")
			}
			p, err := os.ReadFile(patternFile)
			if err != nil {
				return err
			}
			r.EventPattern = string(p)
			r.Targets = []api.RuleTarget{}
			if targetsFile != "" {
				t, err := os.ReadFile(targetsFile)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(t, &r.Targets); err != nil {
					return fmt.Errorf("%s: %w", targetsFile, err)
				}
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			got, err := c.PutRule(cmd.Context(), r)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Rule %s (%s) sends to %d targets.\n", got.Name, got.State, len(got.Targets))
			return nil
		},
	}
	put.Flags().StringVar(&patternFile, "pattern-file", "", "the event pattern (JSON)")
	put.Flags().StringVar(&targetsFile, "targets-file", "", "the targets (JSON list)")
	put.Flags().StringVar(&r.Description, "description", "", "what the rule is for")
	put.Flags().StringVar(&r.State, "state", "ENABLED", "ENABLED or DISABLED")

	var out string
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List event rules, with each target's backlog",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			rs, err := c.Rules(cmd.Context())
			if err != nil {
				return err
			}
			var rows [][]string
			for _, r := range rs {
				var ts []string
				var backlog int64
				for _, t := range r.Targets {
					where := t.SNSTopicARN
					if t.Webhook != nil {
						where = t.Webhook.URL
					}
					ts = append(ts, t.ID+"="+where)
					backlog += t.Backlog
				}
				rows = append(rows, []string{r.Name, r.State, strings.Join(strings.Fields(r.EventPattern), " "), strings.Join(ts, " "), strconv.FormatInt(backlog, 10)})
			}
			return table(cmd.OutOrStdout(), out, []string{"NAME", "STATE", "PATTERN", "TARGETS", "BACKLOG"}, rows, rs)
		},
	}
	ls.Flags().StringVarP(&out, "output", "o", "table", "table, json or csv")
	del := newDeleteByNameCmd("rule", "Delete an event rule", "the rule's name", (*client.Client).DeleteRule)

	var tpPattern, tpEvent, tpOut string
	testPattern := &cobra.Command{
		Use:   "test-pattern --pattern-file P --event-file E",
		Short: "Say whether a pattern matches an event, which fields matched, or why not",
		Long: `Say whether an event pattern matches an event, as a rule would: for a match
each field the pattern tested and what passed; for none, the first field that
did not and why. It runs here, without the server. Exit status 0 when it
matches, 1 when it does not.`,
		Args: exactArgs(0, "no arguments (flags only)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tpPattern == "" || tpEvent == "" {
				return usagef("--pattern-file and --event-file are required")
			}
			pb, err := os.ReadFile(tpPattern)
			if err != nil {
				return err
			}
			eb, err := os.ReadFile(tpEvent)
			if err != nil {
				return err
			}
			p, err := eventpattern.Parse(pb)
			if err != nil {
				return fmt.Errorf("%s: %w", tpPattern, err)
			}
			ev, err := eventpattern.DecodeEvent(eb)
			if err != nil {
				return fmt.Errorf("%s: %w", tpEvent, err)
			}
			x := p.Explain(ev)
			if tpOut == "json" {
				if err := table(cmd.OutOrStdout(), "json", nil, nil, x); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), x.String())
			}
			if !x.Matched {
				return exitCode(1) // said above
			}
			return nil
		},
	}
	testPattern.Flags().StringVar(&tpPattern, "pattern-file", "", "the event pattern (JSON)")
	testPattern.Flags().StringVar(&tpEvent, "event-file", "", "the event (JSON)")
	testPattern.Flags().StringVarP(&tpOut, "output", "o", "text", "text or json")
	rules.AddCommand(put, ls, del, testPattern)
	cmd.AddCommand(rules)
	return cmd
}
