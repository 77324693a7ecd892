package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

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
			return auditQuery(cmd.Context(), c, f, out, cmd.OutOrStdout())
		},
	}
	query.Flags().Var(days{&since}, "since", "only records this recent (10m, 12h, 7d)")
	query.Flags().StringVar(&f.Actor, "actor", "", "only this actor (prn:postern:iam:ACCOUNT:user/NAME)")
	query.Flags().StringVar(&f.Action, "action", "", "only actions containing this (e.g. /v1/sessions, SessionEnded)")
	query.Flags().IntVar(&f.Limit, "limit", 0, "at most this many records (default: all)")
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

// auditPage is how many records audit query asks for at once.
const auditPage = 1000

// auditQuery prints the matching records page by page as they come, so
// the CLI's memory stays flat however long the trail is: JSON as one
// array written as it goes, CSV row by row, a table aligned a page at a
// time with long cells shortened (-o json and csv have them whole).
func auditQuery(ctx context.Context, c *client.Client, f client.AuditFilter, format string, w io.Writer) error {
	header := []string{"SEQ", "TIME", "ACTOR", "ACTION", "RESOURCE", "RESULT", "SOURCE", "DETAIL"}
	if format != "table" && format != "json" && format != "csv" {
		return usagef("-o %q: must be table, json or csv", format)
	}
	total := f.Limit
	var enc *json.Encoder
	var cw *csv.Writer
	switch format {
	case "json":
		enc = json.NewEncoder(w)
		io.WriteString(w, "[")
	case "csv":
		cw = csv.NewWriter(w)
		cw.Write(header)
	}
	n := 0
	for {
		page := f
		page.Limit = auditPage
		if total > 0 {
			page.Limit = min(auditPage, total-n)
		}
		rs, err := c.Audit(ctx, page)
		if err != nil {
			return err
		}
		var rows [][]string
		for _, r := range rs {
			row := []string{fmt.Sprint(r.Seq), fmtTime(r.Time), r.Actor, r.Action, r.Resource, r.Result, orDash(r.Source), orDash(r.Detail)}
			switch format {
			case "json":
				if n > 0 {
					io.WriteString(w, ",")
				}
				if err := enc.Encode(r); err != nil {
					return err
				}
			case "csv":
				cw.Write(printableCells(row))
			default:
				for i := 2; i < len(row); i++ {
					row[i] = shorten(row[i], 100)
				}
				rows = append(rows, row)
			}
			n++
		}
		if format == "table" && (len(rows) > 0 || n == 0) {
			if err := table(w, "table", header, rows, nil); err != nil {
				return err
			}
		}
		if cw != nil {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
		}
		if len(rs) < page.Limit || (total > 0 && n >= total) {
			break
		}
		f.After = rs[len(rs)-1].Seq
	}
	if format == "json" {
		io.WriteString(w, "]\n")
	}
	return nil
}

// shorten cuts s to n characters for a table cell.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
