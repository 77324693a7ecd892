package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
)

// readSecret reads a password from POSTERN_PASSWORD, the terminal
// (without echo) or the next line of in (standard input, through the
// reader that may already hold what came before it).
func readSecret(prompt string, in *bufio.Reader) (string, error) {
	if pw := os.Getenv("POSTERN_PASSWORD"); pw != "" {
		return pw, nil
	}
	fmt.Fprint(os.Stderr, prompt)
	if term.IsTerminal(int(os.Stdin.Fd())) {
		b, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(os.Stderr)
		return string(b), err
	}
	l, err := in.ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	return strings.TrimRight(l, "\r\n"), nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func newUsersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage users: their groups, password and attributes"}
	var out string
	ls := &cobra.Command{
		Use: "ls", Short: "List users", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			us, err := c.Users(cmd.Context())
			if err != nil {
				return err
			}
			var rows [][]string
			for _, u := range us {
				sso := "-"
				if u.Federated != "" {
					sso = u.Federated
				}
				rows = append(rows, []string{u.Name, strings.Join(u.Groups, ","), orDash(u.RunAs), sso})
			}
			return table(cmd.OutOrStdout(), out, []string{"NAME", "GROUPS", "RUN AS", "SINGLE SIGN-ON"}, rows, us)
		},
	}
	ls.Flags().StringVarP(&out, "output", "o", "table", "table, json or csv")

	var groups, runAs string
	var password bool
	create := &cobra.Command{
		Use:   "create NAME [--group G,...] [--password] [--run-as OSUSER]",
		Short: "Create a user",
		Long: `Create a user in groups (the default policies know administrators,
operators and auditors). With --password, the password is read from
POSTERN_PASSWORD, the terminal or stdin; without, the user signs in only
through single sign-on or with API tokens an administrator makes.`,
		Args: exactArgs(1, "a user name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.CreateUserRequest{Name: args[0], Groups: splitList(groups), RunAs: runAs}
			if password {
				pw, err := readSecret("Password for "+args[0]+": ", bufio.NewReader(os.Stdin))
				if err != nil {
					return err
				}
				req.Password = pw
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			u, err := c.CreateUser(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created user %s in groups %s.\n", u.Name, orDash(strings.Join(u.Groups, ",")))
			return nil
		},
	}
	create.Flags().StringVar(&groups, "group", "", "comma-separated groups")
	create.Flags().BoolVar(&password, "password", false, "set a password (from POSTERN_PASSWORD, the terminal or stdin)")
	create.Flags().StringVar(&runAs, "run-as", "", "the OS user the user's sessions run as (runAs)")

	var setGroups string
	var setPassword, noPassword bool
	set := &cobra.Command{
		Use:   "set USER [--groups G,...] [--password | --no-password] [runAs=OSUSER]",
		Short: "Change a user's groups, password or attributes",
		Long: `Change a user. runAs is the OS user the user's sessions run as when the
session preferences set runAsEnabled; it wins over runAsDefaultUser, as
Session Manager's SSMSessionRunAs tag does. runAs= removes it. A new
runAs is allowed only if UpdateUser on the user with that runAs is
(resource.runAs), and it ends the user's live sessions that run as
another run-as user, their terminal saying why. --groups replaces the
user's groups ("" for none) and revokes the user's tokens and sessions.
Nobody but an administrator changes their own user.`,
		Aliases: []string{"set-attr"},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return usagef("usage: postern users set USER [--groups G,...] [runAs=OSUSER]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var req api.SetUserAttributesRequest
			for _, kv := range args[1:] {
				k, v, ok := strings.Cut(kv, "=")
				switch {
				case !ok:
					return usagef("%q must be attribute=value", kv)
				case k == "runAs":
					req.RunAs = &v
				default:
					return usagef("unknown attribute %q (the attribute is runAs)", k)
				}
			}
			if cmd.Flags().Changed("groups") {
				g := splitList(setGroups)
				if g == nil {
					g = []string{}
				}
				req.Groups = &g
			}
			switch {
			case setPassword && noPassword:
				return usagef("--password and --no-password contradict each other")
			case setPassword:
				pw, err := readSecret("New password for "+args[0]+": ", bufio.NewReader(os.Stdin))
				if err != nil {
					return err
				}
				req.Password = &pw
			case noPassword:
				empty := ""
				req.Password = &empty
			}
			if req.RunAs == nil && req.Groups == nil && req.Password == nil {
				return usagef("nothing to change: give --groups, --password, --no-password or runAs=OSUSER")
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			u, err := c.SetUserAttributes(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			runAs := u.RunAs
			if runAs == "" {
				runAs = "(none: runAsDefaultUser applies)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "User %s: groups %s, runAs %s\n", u.Name, orDash(strings.Join(u.Groups, ",")), runAs)
			return nil
		},
	}
	set.Flags().StringVar(&setGroups, "groups", "", "the user's groups, comma-separated (replaces them)")
	set.Flags().BoolVar(&setPassword, "password", false, "set a new password (from POSTERN_PASSWORD, the terminal or stdin)")
	set.Flags().BoolVar(&noPassword, "no-password", false, "remove the password (single sign-on or tokens only)")

	del := &cobra.Command{
		Use: "delete USER", Short: "Delete a user and the user's tokens", Args: exactArgs(1, "a user name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if err := c.DeleteUser(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted user %s.\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(ls, create, set, del)
	return cmd
}

func newTokensCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tokens", Short: "Manage API tokens: scoped, expiring, revocable"}
	var user, out string
	ls := &cobra.Command{
		Use: "ls [--user U]", Short: "List tokens (signed-in sessions and API tokens)", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cfg, err := apiClient()
			if err != nil {
				return err
			}
			ts, err := c.Tokens(cmd.Context(), cmp.Or(user, cfg.User))
			if err != nil {
				return err
			}
			var rows [][]string
			for _, t := range ts {
				rows = append(rows, []string{t.ID, t.Kind, orDash(t.Name), orDash(strings.Join(t.Scopes, ",")), fmtTime(t.CreatedAt), fmtTime(t.ExpiresAt)})
			}
			return table(cmd.OutOrStdout(), out, []string{"ID", "KIND", "NAME", "SCOPES", "CREATED", "EXPIRES"}, rows, ts)
		},
	}
	ls.Flags().StringVar(&user, "user", "", "whose tokens (default: yours)")
	ls.Flags().StringVarP(&out, "output", "o", "table", "table, json or csv")

	var name, expires, scopes string
	create := &cobra.Command{
		Use:   "create --name N [--expires 30d] [--scope Action,...] [--user U]",
		Short: "Make an API token; its secret is printed once",
		Long: `Make an API token for automation. --scope limits it to these actions,
whatever its user may do (e.g. --scope DescribeSessions,QueryLogs); without,
it may do what its user may. It expires after --expires (default 30d, at
most 365d). The secret is printed once, on stdout: use it as
POSTERN_TOKEN or in a Bearer header.

Actions: ` + actionList(),
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cfg, err := apiClient()
			if err != nil {
				return err
			}
			t, err := c.CreateToken(cmd.Context(), cmp.Or(user, cfg.User), api.CreateTokenRequest{Name: name, ExpiresIn: expires, Scopes: splitList(scopes)})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Token %s (%s), expires %s. Its secret, shown only now:\n", t.ID, orDash(strings.Join(t.Scopes, ",")), fmtTime(t.ExpiresAt))
			fmt.Fprintln(cmd.OutOrStdout(), t.Secret)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "what the token is for")
	create.Flags().StringVar(&expires, "expires", "", "lifetime (e.g. 12h, 90d; default 30d)")
	create.Flags().StringVar(&scopes, "scope", "", "comma-separated actions the token is limited to")
	create.Flags().StringVar(&user, "user", "", "whose token (default: yours)")

	revoke := &cobra.Command{
		Use: "revoke ID [--user U]", Short: "Revoke a token (a session's refresh token goes with it)", Args: exactArgs(1, "a token ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cfg, err := apiClient()
			if err != nil {
				return err
			}
			if err := c.RevokeToken(cmd.Context(), cmp.Or(user, cfg.User), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Revoked %s.\n", args[0])
			return nil
		},
	}
	revoke.Flags().StringVar(&user, "user", "", "whose token (default: yours)")
	cmd.AddCommand(ls, create, revoke)
	return cmd
}

func newAccessKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "access-keys",
		Short: "Manage access keys for the AWS-compatible APIs (aws ssm ... --endpoint-url)",
		Long: `An access key signs requests to Postern's AWS-compatible APIs with
Signature Version 4, as the AWS CLI and SDKs sign them for AWS: give them
the key's ID and secret (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, or a
profile) and Postern's address (--endpoint-url https://SERVER:8443). A key
carries every permission of its user; a user has at most two.`,
	}
	var user, out string
	ls := &cobra.Command{
		Use: "ls [--user U]", Short: "List access keys (their secrets are never shown again)", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cfg, err := apiClient()
			if err != nil {
				return err
			}
			ks, err := c.AccessKeys(cmd.Context(), cmp.Or(user, cfg.User))
			if err != nil {
				return err
			}
			var rows [][]string
			for _, k := range ks {
				rows = append(rows, []string{k.AccessKeyID, k.User, fmtTime(k.CreatedAt)})
			}
			return table(cmd.OutOrStdout(), out, []string{"ACCESS KEY ID", "USER", "CREATED"}, rows, ks)
		},
	}
	ls.Flags().StringVar(&user, "user", "", "whose keys (default: yours)")
	ls.Flags().StringVarP(&out, "output", "o", "table", "table, json or csv")
	create := &cobra.Command{
		Use: "create [--user U]", Short: "Make an access key; its secret is printed once", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cfg, err := apiClient()
			if err != nil {
				return err
			}
			k, err := c.CreateAccessKey(cmd.Context(), cmp.Or(user, cfg.User))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Access key %s for %s. Its secret is shown only now; for the AWS CLI:\n", k.AccessKeyID, k.User)
			fmt.Fprintf(cmd.OutOrStdout(), "AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n", k.AccessKeyID, k.SecretAccessKey)
			return nil
		},
	}
	create.Flags().StringVar(&user, "user", "", "whose key (default: yours)")
	del := &cobra.Command{
		Use: "delete ID [--user U]", Short: "Delete an access key: requests signed with it are refused at once", Args: exactArgs(1, "an access key ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cfg, err := apiClient()
			if err != nil {
				return err
			}
			if err := c.DeleteAccessKey(cmd.Context(), cmp.Or(user, cfg.User), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s.\n", args[0])
			return nil
		},
	}
	del.Flags().StringVar(&user, "user", "", "whose key (default: yours)")
	cmd.AddCommand(ls, create, del)
	return cmd
}

func actionList() string {
	var names []string
	for _, a := range authz.Actions {
		names = append(names, string(a))
	}
	return strings.Join(names, ", ")
}

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Manage the account's authorization policies (Cedar)",
		Long: `Postern authorizes every API call with Cedar policies (https://www.cedarpolicy.com).
Principals are User::"name" (in Group::"name"); actions are Action::"StartSession"
and the others listed by 'postern tokens create --help'; resources are
Node (with its tags: resource.getTag("env")), Session (resource.owner),
Document, LogGroup, Key, User and Account.`,
	}
	var out string
	ls := &cobra.Command{
		Use: "ls", Short: "List the policies (with -o json, their text)", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			ps, err := c.Policies(cmd.Context())
			if err != nil {
				return err
			}
			var rows [][]string
			for _, p := range ps {
				rows = append(rows, []string{p.ID, fmt.Sprint(strings.Count(p.Text, "permit") + strings.Count(p.Text, "forbid")), orDash(p.UpdatedBy), fmtTime(p.UpdatedAt)})
			}
			return table(cmd.OutOrStdout(), out, []string{"ID", "STATEMENTS", "UPDATED BY", "UPDATED"}, rows, ps)
		},
	}
	ls.Flags().StringVarP(&out, "output", "o", "table", "table, json or csv")
	show := &cobra.Command{
		Use: "show ID", Short: "Print a policy's Cedar text", Args: exactArgs(1, "a policy ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			ps, err := c.Policies(cmd.Context())
			if err != nil {
				return err
			}
			for _, p := range ps {
				if p.ID == args[0] {
					fmt.Fprint(cmd.OutOrStdout(), p.Text)
					return nil
				}
			}
			return fmt.Errorf("there is no policy %q", args[0])
		},
	}
	var file string
	put := &cobra.Command{
		Use:   "put ID -f FILE",
		Short: "Create or replace a policy from a Cedar file",
		Long: `Create or replace the policy ID with the Cedar policies in FILE (- for
stdin). The server refuses text that does not parse (saying where), and a
change that would leave you unable to manage policies.`,
		Args: exactArgs(1, "a policy ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := readDocFile(file)
			if err != nil {
				return err
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			p, err := c.PutPolicy(cmd.Context(), args[0], text)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Policy %s saved.\n", p.ID)
			return nil
		},
	}
	put.Flags().StringVarP(&file, "file", "f", "", "Cedar policy file (- for stdin)")
	del := &cobra.Command{
		Use: "delete ID", Short: "Delete a policy", Args: exactArgs(1, "a policy ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if err := c.DeletePolicy(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Policy %s deleted.\n", args[0])
			return nil
		},
	}
	// testOut is test's own: sharing ls's variable let test's default
	// ("text") overwrite ls's ("table").
	var principal, action, resource, with, testOut string
	var ctxPairs []string
	test := &cobra.Command{
		Use:   "test --principal USER --action ACTION --resource RESOURCE [--context k=v] [--with ID=FILE]",
		Short: "Say whether a request would be allowed, and which policy decides",
		Long: `Evaluate a request against the account's policies and print the decision
and the policies that decided it (the permits that allow, or the forbids
that deny; "no policy permits it" for Cedar's default deny).

RESOURCE is node:ID|NAME, session:ID, command:ID, document:NAME, log-group:NAME,
key:ID, user:NAME or account. StartSession's context is document, reason
and runAs (the OS user the session runs as; empty when the node's agent
chooses). --with ID=FILE evaluates with FILE in place
of policy ID (or in addition), to try a change before 'policy put'.
Exits 0 when allowed, 3 when denied.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if principal == "" || action == "" || resource == "" {
				return usagef("--principal, --action and --resource are required")
			}
			req := api.PolicyTestRequest{Principal: principal, Action: action, Resource: resource}
			for _, kv := range ctxPairs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return usagef("--context %q must be key=value", kv)
				}
				if req.Context == nil {
					req.Context = map[string]string{}
				}
				req.Context[k] = v
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if with != "" {
				id, f, ok := strings.Cut(with, "=")
				if !ok {
					return usagef("--with %q must be ID=FILE", with)
				}
				text, err := readDocFile(f)
				if err != nil {
					return err
				}
				ps, err := c.Policies(cmd.Context())
				if err != nil {
					return err
				}
				for _, p := range ps {
					if p.ID != id {
						req.Policies = append(req.Policies, p)
					}
				}
				req.Policies = append(req.Policies, api.Policy{ID: id, Text: text})
			}
			res, err := c.TestPolicy(cmd.Context(), req)
			if err != nil {
				return err
			}
			if testOut == "json" {
				return writeJSONLine(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", res.Decision, res.Explanation)
			if len(res.Documents) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "in policy: %s\n", strings.Join(res.Documents, ", "))
			}
			for _, e := range res.Errors {
				fmt.Fprintf(cmd.OutOrStdout(), "evaluation error (policy skipped): %s\n", e)
			}
			if res.Decision != "Allow" {
				return exitCode(3)
			}
			return nil
		},
	}
	f := test.Flags()
	f.StringVar(&principal, "principal", "", "a user name")
	f.StringVar(&action, "action", "", "an action, e.g. StartSession")
	f.StringVar(&resource, "resource", "", "node:ID|NAME, session:ID, command:ID, document:NAME, log-group:NAME, key:ID, user:NAME or account")
	f.StringArrayVar(&ctxPairs, "context", nil, "request context, key=value (e.g. operation=kms:Decrypt for UseKey)")
	f.StringVar(&with, "with", "", "ID=FILE: evaluate with this policy text in place of policy ID")
	f.StringVarP(&testOut, "output", "o", "text", "text or json")
	cmd.AddCommand(ls, show, put, del, test)
	return cmd
}

func newWhoAmICmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use: "whoami", Short: "Show who you are signed in as: account, user, groups, token", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			w, err := c.WhoAmI(cmd.Context())
			if err != nil {
				return err
			}
			if out == "json" {
				return writeJSONLine(cmd.OutOrStdout(), w)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (account %s)\ngroups: %s\ntoken:  %s", w.ARN, w.Account, orDash(strings.Join(w.Groups, ",")), orDash(w.TokenID))
			if len(w.Scopes) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), " (scopes %s)", strings.Join(w.Scopes, ","))
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "text", "text or json")
	return cmd
}
