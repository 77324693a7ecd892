package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/postern/postern/api"
)

func newOrgCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "org", Short: "Manage an organization: its accounts, organizational units, and roles in member accounts"}
	var out string
	outFlag := func(c *cobra.Command) *cobra.Command {
		c.Flags().StringVarP(&out, "output", "o", "table", "table, json or csv")
		return c
	}
	// done says what a change did, or prints the object it returns as
	// JSON (-o json): changes are not listings.
	var doneOut string
	doneFlag := func(c *cobra.Command) *cobra.Command {
		c.Flags().StringVarP(&doneOut, "output", "o", "text", "text or json")
		return c
	}
	done := func(w io.Writer, obj any, format string, args ...any) error {
		switch doneOut {
		case "json":
			return table(w, "json", nil, nil, obj)
		case "", "text":
			_, err := fmt.Fprintf(w, format+"\n", args...)
			return err
		}
		return usagef("-o %q: must be text or json", doneOut)
	}
	orgRow := func(w io.Writer, o api.Organization) error {
		return table(w, out, []string{"ORGANIZATION", "MANAGEMENT ACCOUNT", "ROOT", "CREATED"},
			[][]string{{o.ID, o.ManagementAccount, o.Root, fmtTime(o.CreatedAt)}}, o)
	}
	accountRows := func(w io.Writer, as ...api.OrgAccount) error {
		var rows [][]string
		for _, a := range as {
			role := "member"
			if a.Management {
				role = "management"
			}
			rows = append(rows, []string{a.ID, a.Name, role, a.Path, fmtTime(a.CreatedAt)})
		}
		var objects any = as
		if len(as) == 1 {
			objects = as[0]
		}
		return table(w, out, []string{"ACCOUNT", "NAME", "ROLE", "PATH", "CREATED"}, rows, objects)
	}

	create := doneFlag(&cobra.Command{
		Use:   "create",
		Short: "Make an organization managed by your account",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			o, err := c.CreateOrganization(cmd.Context())
			if err != nil {
				return err
			}
			return done(cmd.OutOrStdout(), o, "Created organization %s (root %s), managed by account %s.", o.ID, o.Root, o.ManagementAccount)
		},
	})
	describe := outFlag(&cobra.Command{
		Use:   "describe",
		Short: "Describe your account's organization",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			o, err := c.Organization(cmd.Context())
			if err != nil {
				return err
			}
			return orgRow(cmd.OutOrStdout(), o)
		},
	})
	accounts := outFlag(&cobra.Command{
		Use:   "accounts",
		Short: "List the organization's accounts (from the management account)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			as, err := c.OrgAccounts(cmd.Context())
			if err != nil {
				return err
			}
			return accountRows(cmd.OutOrStdout(), as...)
		},
	})
	var newAccount api.CreateAccountRequest
	createAccount := doneFlag(&cobra.Command{
		Use:   "create-account NAME",
		Short: "Create a member account, with the role the management account assumes in it",
		Args:  exactArgs(1, "the account's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			newAccount.Name = args[0]
			a, err := c.CreateOrgAccount(cmd.Context(), newAccount)
			if err != nil {
				return err
			}
			role := newAccount.RoleName
			if role == "" {
				role = "OrganizationAccountAccessRole"
			}
			return done(cmd.OutOrStdout(), a, "Created account %s (%s) in %s, with the role %s: postern org assume-role %s", a.ID, a.Name, a.Path, role, a.ID)
		},
	})
	createAccount.Flags().StringVar(&newAccount.Parent, "parent", "", "the unit to create it in (ou-...); default: the root")
	createAccount.Flags().StringVar(&newAccount.RoleName, "role-name", "", "the role the management account assumes in it (default OrganizationAccountAccessRole)")

	var move api.MoveAccountRequest
	moveAccount := doneFlag(&cobra.Command{
		Use:   "move-account ACCOUNT --from PARENT --to PARENT",
		Short: "Move an account to another unit (or the root)",
		Args:  exactArgs(1, "the account's id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			a, err := c.MoveOrgAccount(cmd.Context(), args[0], move)
			if err != nil {
				return err
			}
			return done(cmd.OutOrStdout(), a, "Moved account %s to %s.", a.ID, a.Path)
		},
	})
	moveAccount.Flags().StringVar(&move.From, "from", "", "where the account is now (r-... or ou-...; default: the root)")
	moveAccount.Flags().StringVar(&move.To, "to", "", "where it goes (r-... or ou-...; default: the root)")

	units := outFlag(&cobra.Command{
		Use:   "units",
		Short: "List the organization's root and organizational units",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			us, err := c.OrgUnits(cmd.Context())
			if err != nil {
				return err
			}
			var rows [][]string
			for _, u := range us {
				rows = append(rows, []string{u.ID, u.Name, orDash(u.Parent), u.Path})
			}
			return table(cmd.OutOrStdout(), out, []string{"ID", "NAME", "PARENT", "PATH"}, rows, us)
		},
	})
	var unit api.CreateOrgUnitRequest
	createUnit := doneFlag(&cobra.Command{
		Use:   "create-unit NAME",
		Short: "Add an organizational unit",
		Args:  exactArgs(1, "the unit's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			unit.Name = args[0]
			u, err := c.CreateOrgUnit(cmd.Context(), unit)
			if err != nil {
				return err
			}
			return done(cmd.OutOrStdout(), u, "Created organizational unit %s (%s) at %s.", u.ID, u.Name, u.Path)
		},
	})
	createUnit.Flags().StringVar(&unit.Parent, "parent", "", "the parent unit (ou-...); default: the root")
	deleteUnit := &cobra.Command{
		Use:   "delete-unit ID",
		Short: "Delete an empty organizational unit",
		Args:  exactArgs(1, "the unit's id (ou-...)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if err := c.DeleteOrgUnit(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s.\n", args[0])
			return nil
		},
	}

	var assume api.AssumeRoleRequest
	var duration time.Duration
	var format string
	assumeRole := &cobra.Command{
		Use:   "assume-role ACCOUNT",
		Short: "Get short-lived credentials of a role in a member account (use them as POSTERN_TOKEN)",
		Long: `Get short-lived credentials of a role that a member account grants the
management account (by default OrganizationAccountAccessRole, which the
account got when it was created). What the role may do is the member's
policies' business; the member's audit trail names you as its user.

  eval "$(postern org assume-role 123456789012 --format env)"
  postern whoami        # now the role, in the member account`,
		Args: exactArgs(1, "the member account's id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			assume.DurationSeconds = int(duration / time.Second)
			cr, err := c.AssumeRole(cmd.Context(), args[0], assume)
			if err != nil {
				return err
			}
			switch format {
			case "env":
				fmt.Fprintf(cmd.OutOrStdout(), "export POSTERN_TOKEN=%s\n# %s until %s\n", cr.Token, cr.ARN, cr.ExpiresAt.Local().Format(time.RFC3339))
				return nil
			case "table", "json", "csv":
				return table(cmd.OutOrStdout(), format, []string{"ACCOUNT", "ROLE", "EXPIRES", "TOKEN"}, [][]string{{cr.Account, cr.Role, fmtTime(cr.ExpiresAt), cr.Token}}, cr)
			}
			return usagef("--format %q: must be env, table, json or csv", format)
		},
	}
	assumeRole.Flags().StringVar(&assume.RoleName, "role-name", "", "the role (default OrganizationAccountAccessRole)")
	assumeRole.Flags().DurationVar(&duration, "duration", time.Hour, "how long the credentials last (15m to 1h)")
	assumeRole.Flags().StringVarP(&format, "format", "o", "table", "env (export POSTERN_TOKEN=...), table, json or csv")

	cmd.AddCommand(create, describe, accounts, createAccount, moveAccount, units, createUnit, deleteUnit, assumeRole, newOrgArchiveCmd(), newOrgStackSetsCmd())
	return cmd
}

func newOrgArchiveCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "archive", Short: "The organization's central archive: a copy of every account's sessions, under the archive account's key"}
	var a api.OrgArchive
	var setOut string
	var logsInterval int
	set := &cobra.Command{
		Use:   "set --account ID --bucket NAME --key ARN [--prefix P]",
		Short: "Send a copy of every account's session artifacts to the archive account's bucket (from the management account)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("logs-buffer-interval") {
				a.LogsIntervalSeconds = &logsInterval
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			got, err := c.SetOrgArchive(cmd.Context(), a)
			if err != nil {
				return err
			}
			if setOut == "json" {
				return table(cmd.OutOrStdout(), "json", nil, nil, got)
			}
			prefix := got.Prefix
			if prefix != "" {
				prefix += "/"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Every account's sessions are copied to s3://%s/%sACCOUNT/sessions/YYYY/MM/DD/, and its log groups to %sACCOUNT/logs/GROUP/YYYY/MM/DD/HH/, sealed with %s (account %s).\n", got.Bucket, prefix, prefix, got.KeyARN, got.Account)
			return nil
		},
	}
	set.Flags().StringVar(&a.Account, "account", "", "the archive account (an account of the organization)")
	set.Flags().StringVar(&a.Bucket, "bucket", "", "its bucket")
	set.Flags().StringVar(&a.Prefix, "prefix", "", "a prefix for the copies' keys")
	set.Flags().StringVar(&a.KeyARN, "key", "", "the archive account's key that seals them (prn:postern:kms:ACCOUNT:key/ID); its policy must let the organization's recorders use it (aws:SourceOrgID)")
	set.Flags().StringSliceVar(&a.LogGroups, "log-groups", nil, "the accounts' log groups shipped to the archive: names, or prefixes ending in '*' (default /postern/sessions)")
	set.Flags().IntVar(&logsInterval, "logs-buffer-interval", 60, "seconds the accounts' session log events are buffered before a batch is shipped (0-900)")
	set.Flags().StringVarP(&setOut, "output", "o", "text", "text or json")

	var showOut string
	show := &cobra.Command{
		Use:   "show",
		Short: "The archive's settings, and each account's copies: delivered, waiting for their sessions to end, due, failing (management and archive accounts)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			st, err := c.OrgArchive(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var rows [][]string
			for _, a := range st.Accounts {
				oldest := "-"
				if a.Oldest != nil {
					oldest = fmtTime(*a.Oldest)
				}
				rows = append(rows, []string{a.Account, a.Name, fmt.Sprint(a.Delivered), fmt.Sprint(a.Waiting), fmt.Sprint(a.Pending), fmt.Sprint(a.Failing), oldest, fmt.Sprint(a.LogEventsPending)})
			}
			header := []string{"ACCOUNT", "NAME", "DELIVERED", "WAITING", "DUE", "FAILING", "OLDEST UNDELIVERED", "LOG EVENTS PENDING"}
			switch showOut {
			case "json", "csv":
				return table(w, showOut, header, rows, st)
			case "", "text":
				fmt.Fprintf(w, "Archive: s3://%s/%s, sealed with %s (account %s)\n\n", st.Bucket, st.Prefix, st.KeyARN, st.Account)
				return table(w, "table", header, rows, st)
			}
			return usagef("-o %q: must be text, json or csv", showOut)
		},
	}
	show.Flags().StringVarP(&showOut, "output", "o", "text", "text, json or csv")
	cmd.AddCommand(set, show)
	return cmd
}
