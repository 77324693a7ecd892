package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
)

// newLogGroupsCmds are `postern logs groups|streams|events`: the built-in
// log groups that sessions deliver to when no CloudWatch Logs is
// configured.
func newLogGroupsCmds() []*cobra.Command {
	groups := &cobra.Command{Use: "groups", Short: "List, create and delete the built-in log groups"}
	var out string
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the built-in log groups",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			gs, err := c.LogGroups(cmd.Context())
			if err != nil {
				return err
			}
			var rows [][]string
			for _, g := range gs {
				ret := "never expire"
				if g.RetentionInDays > 0 {
					ret = fmt.Sprintf("%d days", g.RetentionInDays)
				}
				key := g.KMSKeyID
				switch {
				case key == "" && g.Encrypted:
					key = "(default key)"
				case key == "":
					key = "- (not encrypted)"
				}
				rows = append(rows, []string{g.Name, ret, key, fmt.Sprint(g.StoredBytes), fmt.Sprint(g.IndexBytes), fmtTime(g.CreationTime)})
			}
			return table(cmd.OutOrStdout(), out, []string{"NAME", "RETENTION", "KMS KEY", "STORED BYTES", "INDEX BYTES", "CREATED"}, rows, gs)
		},
	}
	ls.Flags().StringVarP(&out, "output", "o", "table", "table, json or csv")

	var req api.CreateLogGroupRequest
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a built-in log group",
		Args:  exactArgs(1, "one log group name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			req.Name = args[0]
			g, err := c.CreateLogGroup(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created log group %s (%s).\n", g.Name, g.ARN)
			return nil
		},
	}
	create.Flags().IntVar(&req.RetentionInDays, "retention-days", 0, "delete events older than this (CloudWatch Logs' values: 1, 3, 5, 7, 14, 30, 60, 90, ... 3653); 0: never")
	create.Flags().StringVar(&req.KMSKeyID, "kms-key-id", "", "key that encrypts the group; cloudWatchEncryptionEnabled requires one")

	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a built-in log group and every event in it",
		Args:  exactArgs(1, "one log group name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if err := c.DeleteLogGroup(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted log group %s.\n", args[0])
			return nil
		},
	}
	retention := &cobra.Command{
		Use:   "set-retention NAME DAYS",
		Short: "Keep a built-in log group's events DAYS days (CloudWatch Logs' values; 0: never expire)",
		Args:  exactArgs(2, "a log group name and a number of days"),
		RunE: func(cmd *cobra.Command, args []string) error {
			days, err := strconv.Atoi(args[1])
			if err != nil {
				return usagef("DAYS %q is not a number", args[1])
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if err := c.SetRetention(cmd.Context(), args[0], days); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Log group %s keeps events %s.\n", args[0], map[bool]string{true: "forever", false: fmt.Sprintf("%d days", days)}[days == 0])
			return nil
		},
	}
	groups.AddCommand(ls, create, del, retention)

	var streamsOut string
	streams := &cobra.Command{
		Use:   "streams GROUP",
		Short: "List a built-in log group's streams (one per session)",
		Args:  exactArgs(1, "one log group name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			ss, err := c.LogStreams(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var rows [][]string
			for _, s := range ss {
				last := "-"
				if s.LastEventTime != nil {
					last = fmtTime(*s.LastEventTime)
				}
				rows = append(rows, []string{s.Name, fmt.Sprint(s.Events), fmt.Sprint(s.StoredBytes), last})
			}
			return table(cmd.OutOrStdout(), streamsOut, []string{"STREAM", "EVENTS", "STORED BYTES", "LAST EVENT"}, rows, ss)
		},
	}
	streams.Flags().StringVarP(&streamsOut, "output", "o", "table", "table, json or csv")

	var eventsOut string
	events := &cobra.Command{
		Use:   "events GROUP STREAM",
		Short: "Print a built-in log stream's events, oldest first",
		Args:  exactArgs(2, "a log group name and a stream name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if eventsOut != "text" && eventsOut != "json" {
				return usagef("-o %q: must be text or json", eventsOut)
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var after int64
			for {
				evs, err := c.LogEvents(cmd.Context(), args[0], args[1], after, 10000)
				if err != nil {
					return err
				}
				for _, e := range evs {
					if eventsOut == "json" {
						if err := writeJSONLine(w, e); err != nil {
							return err
						}
					} else {
						fmt.Fprintln(w, e.Message)
					}
					after = e.ID
				}
				if len(evs) < 10000 {
					return nil
				}
			}
		},
	}
	events.Flags().StringVarP(&eventsOut, "output", "o", "text", "text (the messages, one per line) or json (one event object per line)")

	var to client.TailOptions
	var follow bool
	var since time.Duration
	var tailOut string
	tail := &cobra.Command{
		Use:   "tail",
		Short: "Print the events of a built-in log group as they arrive (default: every session's, in /postern/sessions)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tailOut != "text" && tailOut != "json" {
				return usagef("-o %q: must be text or json", tailOut)
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			to.Since = time.Now().Add(-since)
			w := cmd.OutOrStdout()
			for {
				if follow {
					to.Wait = 20 * time.Second
				}
				page, err := c.Tail(cmd.Context(), to)
				if err != nil {
					if cmd.Context().Err() != nil {
						return nil // interrupted
					}
					return err
				}
				for _, e := range page.Events {
					if tailOut == "json" {
						if err := writeJSONLine(w, e); err != nil {
							return err
						}
						continue
					}
					fmt.Fprintf(w, "%s %s %s\n", e.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z"), e.Stream, e.Message)
				}
				to.After = page.Next
				if !follow && len(page.Events) == 0 {
					return nil
				}
			}
		},
	}
	f := tail.Flags()
	f.StringVar(&to.Group, "group", "", "log group (default /postern/sessions, where every session goes)")
	f.StringVar(&to.Session, "session", "", "only this session's stream")
	since = 10 * time.Minute
	f.Var(days{&since}, "since", "start with the events of this long ago (e.g. 10m, 2h, 7d)")
	f.BoolVarP(&follow, "follow", "f", false, "keep printing events as they arrive")
	f.StringVarP(&tailOut, "output", "o", "text", "text (time, stream, message per line) or json (one event object per line)")

	var qGroup, qOut, qStart, qEnd string
	var qSince time.Duration
	query := &cobra.Command{
		Use:   "query QUERY",
		Short: "Run a Logs Insights-style query over a built-in log group (default: every session's)",
		Long: `Run a query in a subset of CloudWatch Logs Insights' language over the events
of a built-in log group, by default /postern/sessions, where every session's
output and commands go. For example:

  postern logs query 'filter eventType = "Command" | fields @timestamp, userIdentity.arn, command, exitCode'
  postern logs query 'filter command like /sudo/ | stats count(*) by userIdentity.arn' --since 7d`,
		Args: exactArgs(1, "one query (quote it)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var start, end time.Time
			var err error
			if qStart != "" {
				if start, err = time.Parse(time.RFC3339, qStart); err != nil {
					return usagef("--start %q: want an RFC 3339 time such as 2026-12-01T10:00:00Z", qStart)
				}
			} else {
				start = time.Now().Add(-qSince)
			}
			if qEnd != "" {
				if end, err = time.Parse(time.RFC3339, qEnd); err != nil {
					return usagef("--end %q: want an RFC 3339 time such as 2026-12-01T11:00:00Z", qEnd)
				}
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			res, err := c.Query(cmd.Context(), args[0], qGroup, start, end)
			if err != nil {
				return err
			}
			rows := make([][]string, len(res.Rows))
			for i, r := range res.Rows {
				for _, v := range r {
					rows[i] = append(rows[i], fmtValue(v))
				}
			}
			if err := table(cmd.OutOrStdout(), qOut, res.Columns, rows, res); err != nil {
				return err
			}
			if qOut == "table" {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d rows; %d events scanned, %d matched, in %d ms\n", len(res.Rows), res.Scanned, res.Matched, res.ElapsedMS)
			}
			return nil
		},
	}
	qf := query.Flags()
	qf.StringVar(&qGroup, "group", "", "log group (default /postern/sessions)")
	qSince = time.Hour
	qf.Var(days{&qSince}, "since", "query the events of this long ago until now (e.g. 30m, 12h, 7d; default 1h)")
	qf.StringVar(&qStart, "start", "", "query from this time (RFC 3339) instead of --since")
	qf.StringVar(&qEnd, "end", "", "query until this time (RFC 3339; default now)")
	qf.StringVarP(&qOut, "output", "o", "table", "table, json or csv")
	return []*cobra.Command{groups, streams, events, tail, query, newMetricFiltersCmd(), newSubscriptionFiltersCmd()}
}

func newMetricFiltersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "metric-filters", Short: "Count a built-in log group's matching events as Prometheus metrics"}
	var f api.MetricFilter
	var dims []string
	put := &cobra.Command{
		Use:   "put",
		Short: "Create or replace a metric filter (CloudWatch Logs' filter pattern syntax)",
		Long: `Create or replace a metric filter: the events of a built-in log group that
match the pattern add --value (default 1, or a field such as $.durationMs) to
the counter postern_logs_<namespace>_<metric> on the server's /metrics
(--metrics-listen), labelled with the group, the filter and any dimensions.
Whoever may scrape the metrics (GetMetrics) reads the labels, so a value or
dimension may not read $.command or $.sessionData, nor a space-delimited
field; match on them in the pattern instead. Past 100 combinations of
dimension values (the server's --metric-filter-max-series), new ones count
under _other.

  postern logs metric-filters put --group /postern/sessions --name sudo \
    --pattern '{ $.eventType = "Command" && $.command = "sudo*" }' \
    --metric-namespace Postern --metric-name SudoCommands --dimensions user=$.userIdentity.arn`,
		Args: exactArgs(0, "no arguments (flags only)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.Group == "" || f.Name == "" || f.Namespace == "" || f.MetricName == "" {
				return usagef("--group, --name, --metric-namespace and --metric-name are required")
			}
			d, err := parseTags(dims)
			if err != nil {
				return err
			}
			if len(d) > 0 {
				f.Dimensions = d
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if _, err := c.PutMetricFilter(cmd.Context(), f); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Metric filter %s on log group %s counts into %s/%s.\n", f.Name, f.Group, f.Namespace, f.MetricName)
			return nil
		},
	}
	pf := put.Flags()
	pf.StringVar(&f.Group, "group", "", "log group")
	pf.StringVar(&f.Name, "name", "", "filter name")
	pf.StringVar(&f.Pattern, "pattern", "", `filter pattern, e.g. 'ERROR -timeout', '{ $.exitCode != 0 }' (empty: every event)`)
	pf.StringVar(&f.Namespace, "metric-namespace", "", "metric namespace")
	pf.StringVar(&f.MetricName, "metric-name", "", "metric name")
	pf.StringVar(&f.Value, "value", "1", "what each matching event adds: a number, or a field such as $.durationMs")
	pf.StringArrayVar(&dims, "dimensions", nil, "dimension=field[,dimension=field] (at most 3), e.g. user=$.userIdentity.arn")

	var out, group string
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List metric filters",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			fs, err := c.MetricFilters(cmd.Context(), group)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, f := range fs {
				rows = append(rows, []string{f.Group, f.Name, f.Pattern, f.Namespace + "/" + f.MetricName, f.Value, fmtTags(f.Dimensions)})
			}
			return table(cmd.OutOrStdout(), out, []string{"GROUP", "NAME", "PATTERN", "METRIC", "VALUE", "DIMENSIONS"}, rows, fs)
		},
	}
	ls.Flags().StringVar(&group, "group", "", "only this log group's")
	ls.Flags().StringVarP(&out, "output", "o", "table", "table, json or csv")

	del := newFilterDeleteCmd("metric filter", (*client.Client).DeleteMetricFilter)
	cmd.AddCommand(put, ls, del)
	return cmd
}

// newFilterDeleteCmd is the delete command of a log group's filters (metric
// or subscription): del deletes the group's filter of a name.
func newFilterDeleteCmd(what string, del func(c *client.Client, ctx context.Context, group, name string) error) *cobra.Command {
	var group, name string
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete a " + what,
		Args:  exactArgs(0, "no arguments (flags only)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if group == "" || name == "" {
				return usagef("--group and --name are required")
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if err := del(c, cmd.Context(), group, name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s %s of log group %s.\n", what, name, group)
			return nil
		},
	}
	cmd.Flags().StringVar(&group, "group", "", "log group")
	cmd.Flags().StringVar(&name, "name", "", "filter name")
	return cmd
}

// fmtValue prints a query result's value: JSON gives strings, numbers,
// times (RFC 3339) and null.
func fmtValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprint(int64(x))
		}
		return fmt.Sprint(x)
	}
	return fmt.Sprint(v)
}
