package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/postern/postern/client"
)

// newAuditCmd is `postern audit`: the audit trail of every API call and
// session, and the check of its hash chain.
func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read and verify the audit trail (administrators)"}
	var f client.AuditFilter
	var since time.Duration
	var out string
	query := &cobra.Command{
		Use:   "query",
		Short: "List audit records: who did what, on what, from where, when, with which result",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if since > 0 {
				f.Since = time.Now().Add(-since)
			}
			rs, err := c.Audit(cmd.Context(), f)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, r := range rs {
				rows = append(rows, []string{fmt.Sprint(r.Seq), fmtTime(r.Time), r.Actor, r.Action, r.Resource, r.Result, orDash(r.Source), orDash(r.Detail)})
			}
			return table(cmd.OutOrStdout(), out, []string{"SEQ", "TIME", "ACTOR", "ACTION", "RESOURCE", "RESULT", "SOURCE", "DETAIL"}, rows, rs)
		},
	}
	query.Flags().Var(days{&since}, "since", "only records this recent (10m, 12h, 7d)")
	query.Flags().StringVar(&f.Actor, "actor", "", "only this actor (prn:postern:iam:ACCOUNT:user/NAME)")
	query.Flags().StringVar(&f.Action, "action", "", "only actions containing this (e.g. /v1/sessions, SessionEnded)")
	query.Flags().IntVar(&f.Limit, "limit", 0, "at most this many records (default and maximum 10,000)")
	query.Flags().StringVarP(&out, "output", "o", "table", "table, json or csv")

	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit trail's hash chain: an edited, removed or reordered record fails it",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			v, err := c.VerifyAudit(cmd.Context())
			if err != nil {
				return err
			}
			if !v.OK {
				return fmt.Errorf("the audit trail is broken at record %d: %s", v.BrokenAt, v.Reason)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "The audit trail's %d records are intact. Head: %s (note it: a later trail must still hold it).\n", v.Records, v.Head)
			return nil
		},
	}
	cmd.AddCommand(query, verify)
	return cmd
}
