package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/postern/postern/api"
)

// newKeysCmd is `postern keys`: the built-in key service, with AWS KMS's
// operations and names.
func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage the keys that encrypt session logs (the built-in key service)"}

	var out string
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the account's keys",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			ks, err := c.Keys(cmd.Context())
			if err != nil {
				return err
			}
			var rows [][]string
			for _, k := range ks {
				rows = append(rows, []string{k.KeyID, orDash(strings.Join(k.Aliases, ",")), k.KeyState, fmt.Sprint(k.Versions), orDash(k.Description), fmtTime(k.CreationDate)})
			}
			return table(cmd.OutOrStdout(), out, []string{"KEY ID", "ALIASES", "STATE", "VERSIONS", "DESCRIPTION", "CREATED"}, rows, ks)
		},
	}
	ls.Flags().StringVarP(&out, "output", "o", "table", "table, json or csv")

	var req api.CreateKeyRequest
	var policyFile, alias, createOut string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a key (administrators only)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if createOut != "text" && createOut != "json" {
				return usagef("-o %q: must be text or json", createOut)
			}
			if policyFile != "" {
				b, err := os.ReadFile(policyFile)
				if err != nil {
					return err
				}
				req.Policy = string(b)
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			k, err := c.CreateKey(cmd.Context(), req)
			if err != nil {
				return err
			}
			if alias != "" {
				if k, err = c.KeyAction(cmd.Context(), "alias", api.KeyRequest{KeyID: k.KeyID, AliasName: alias}); err != nil {
					return fmt.Errorf("created key %s, but: %w", k.KeyID, err)
				}
			}
			if createOut == "json" {
				return table(cmd.OutOrStdout(), "json", nil, nil, k)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created key %s (%s).\n", k.KeyID, k.ARN)
			return nil
		},
	}
	create.Flags().StringVar(&req.Description, "description", "", "what the key is for")
	create.Flags().StringVar(&policyFile, "policy-file", "", "key policy (AWS KMS's JSON form); default: the account's administrators may do everything")
	create.Flags().IntVar(&req.RotationPeriodDays, "rotation-period-days", 0, "rotate the key this often; 0: yearly; -1: never")
	create.Flags().StringVar(&alias, "alias", "", "also give the key this alias (alias/NAME)")
	create.Flags().StringVarP(&createOut, "output", "o", "text", "text or json")

	var showOut string
	show := &cobra.Command{
		Use:   "show KEY",
		Short: "Describe a key (id, ARN, alias/NAME or alias ARN), with its policy",
		Args:  exactArgs(1, "one key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			k, err := c.KeyAction(cmd.Context(), "describe", api.KeyRequest{KeyID: args[0]})
			if err != nil {
				return err
			}
			if showOut == "json" {
				return table(cmd.OutOrStdout(), "json", nil, nil, k)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Key ID:        %s\nARN:           %s\nAliases:       %s\nState:         %s\n", k.KeyID, k.ARN, orDash(strings.Join(k.Aliases, ", ")), k.KeyState)
			if !k.DeletionDate.IsZero() {
				fmt.Fprintf(w, "Deletion date: %s\n", fmtTime(k.DeletionDate))
			}
			rot := "never"
			if k.RotationPeriodDays > 0 {
				rot = fmt.Sprintf("every %d days, next %s", k.RotationPeriodDays, fmtTime(k.NextRotationDate))
			}
			fmt.Fprintf(w, "Description:   %s\nRotation:      %s\nVersions:      %d\nCreated:       %s\nPolicy:\n%s\n", orDash(k.Description), rot, k.Versions, fmtTime(k.CreationDate), k.Policy)
			return nil
		},
	}
	show.Flags().StringVarP(&showOut, "output", "o", "text", "text or json")

	var deleteAlias bool
	aliasCmd := &cobra.Command{
		Use:   "alias alias/NAME [KEY]",
		Short: "Point an alias at a key, or remove it with --delete",
		Args: func(cmd *cobra.Command, args []string) error {
			if deleteAlias {
				return exactArgs(1, "one alias")(cmd, args)
			}
			return exactArgs(2, "an alias and a key")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if deleteAlias {
				if _, err := c.KeyAction(cmd.Context(), "delete-alias", api.KeyRequest{AliasName: args[0]}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Deleted alias %s.\n", args[0])
				return nil
			}
			k, err := c.KeyAction(cmd.Context(), "alias", api.KeyRequest{AliasName: args[0], KeyID: args[1]})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s now names key %s.\n", args[0], k.KeyID)
			return nil
		},
	}
	aliasCmd.Flags().BoolVar(&deleteAlias, "delete", false, "remove the alias (the key stays)")

	// The actions that take a key and say what they did.
	simple := func(use, short string, done func(api.Key) string, flags func(*cobra.Command, *api.KeyRequest)) *cobra.Command {
		var req api.KeyRequest
		c := &cobra.Command{
			Use:   use + " KEY",
			Short: short,
			Args:  exactArgs(1, "one key"),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, _, err := apiClient()
				if err != nil {
					return err
				}
				req.KeyID = args[0]
				k, err := c.KeyAction(cmd.Context(), use, req)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), done(k))
				return nil
			},
		}
		if flags != nil {
			flags(c, &req)
		}
		return c
	}
	var policyPath string
	putPolicy := simple("put-policy", "Replace a key's policy (AWS KMS's JSON form) from --file",
		func(k api.Key) string { return fmt.Sprintf("Key %s has its new policy.", k.KeyID) },
		func(c *cobra.Command, req *api.KeyRequest) {
			c.Flags().StringVarP(&policyPath, "file", "f", "", "the policy (required)")
			c.MarkFlagRequired("file")
			c.PreRunE = func(*cobra.Command, []string) error {
				b, err := os.ReadFile(policyPath)
				req.Policy = string(b)
				return err
			}
		})
	cmd.AddCommand(ls, create, show, aliasCmd,
		simple("disable", "Disable a key: nothing encrypts or decrypts with it until enabled",
			func(k api.Key) string { return fmt.Sprintf("Key %s is disabled.", k.KeyID) }, nil),
		simple("enable", "Enable a disabled key",
			func(k api.Key) string { return fmt.Sprintf("Key %s is enabled.", k.KeyID) }, nil),
		simple("schedule-deletion", "Disable a key now and destroy it after a waiting period: what it encrypted becomes unreadable",
			func(k api.Key) string {
				return fmt.Sprintf("Key %s will be destroyed on %s; until then, cancel-deletion brings it back.", k.KeyID, fmtTime(k.DeletionDate))
			},
			func(c *cobra.Command, req *api.KeyRequest) {
				c.Flags().IntVar(&req.PendingWindowInDays, "days", 30, "waiting period, 7-30 days")
			}),
		simple("cancel-deletion", "Cancel a scheduled deletion; the key comes back disabled",
			func(k api.Key) string {
				return fmt.Sprintf("Key %s is no longer scheduled for deletion; it is disabled until enabled.", k.KeyID)
			}, nil),
		simple("rotate", "Give a key new material now; the old versions still decrypt",
			func(k api.Key) string { return fmt.Sprintf("Key %s rotated: it has %d versions.", k.KeyID, k.Versions) }, nil),
		putPolicy,
	)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
