package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/postern/postern/cli"
	"github.com/postern/postern/client"
)

// docProblems reports a document the server refused as validate does:
// each problem on its own line, after the file's name, so an editor can
// jump to it. Other errors pass through.
func docProblems(w io.Writer, file string, err error) error {
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(ce.Message), "\n") {
		fmt.Fprintf(w, "%s: %s\n", file, cli.PrintableText(line))
	}
	return exitCode(1)
}

// readDocFile reads a document file for create/set/validate.
func readDocFile(path string) (string, error) {
	if path == "" {
		return "", usagef("-f FILE is required")
	}
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func newDocumentsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "documents", Aliases: []string{"docs"}, Short: "Manage session documents"}
	var out string
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List documents (the account's and the built-in ones)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			ds, err := c.Documents(cmd.Context())
			if err != nil {
				return err
			}
			var rows [][]string
			for _, d := range ds {
				owner := "account"
				if d.Builtin {
					owner = "built-in"
				}
				typ := d.SessionType
				if d.DocumentType != "" {
					typ = d.DocumentType
				}
				rows = append(rows, []string{d.Name, typ, fmt.Sprint(d.Version), owner, d.Description})
			}
			return table(cmd.OutOrStdout(), out, []string{"NAME", "TYPE", "VERSION", "OWNER", "DESCRIPTION"}, rows, ds)
		},
	}
	ls.Flags().StringVarP(&out, "output", "o", "table", "table, json or csv")

	var file, name string
	create := &cobra.Command{
		Use:   "create -f FILE [--name NAME]",
		Short: "Create a document, or a new version of one (JSON or YAML)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			content, err := readDocFile(file)
			if err != nil {
				return err
			}
			if name == "" {
				base := filepath.Base(file)
				name = strings.TrimSuffix(base, filepath.Ext(base))
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			d, err := c.CreateDocument(cmd.Context(), name, content)
			if err != nil {
				return docProblems(cmd.ErrOrStderr(), file, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created %s version %d (%s).\n", d.Name, d.Version, d.SessionType)
			return nil
		},
	}
	create.Flags().StringVarP(&file, "file", "f", "", "document file (JSON or YAML; - for stdin)")
	create.Flags().StringVar(&name, "name", "", "document name (default: the file name without extension)")

	var version int
	show := &cobra.Command{
		Use:   "show NAME [--version N]",
		Short: "Print a document as it was written",
		Args:  exactArgs(1, "one document name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			d, err := c.Document(cmd.Context(), args[0], version)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), strings.TrimRight(d.Content, "\n")+"\n")
			return nil
		},
	}
	show.Flags().IntVar(&version, "version", 0, "version (default: the latest)")

	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a document and all its versions",
		Args:  exactArgs(1, "one document name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if err := c.DeleteDocument(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s.\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(ls, create, show, del)
	return cmd
}

func newPrefsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "prefs", Short: "Session preferences (the account's Postern-SessionManagerRunShell)"}
	get := &cobra.Command{
		Use:   "get",
		Short: "Print the session preferences document",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			d, err := c.Preferences(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), strings.TrimRight(d.Content, "\n")+"\n")
			return nil
		},
	}
	var file string
	set := &cobra.Command{
		Use:   "set -f FILE",
		Short: "Replace the session preferences (validated first)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			content, err := readDocFile(file)
			if err != nil {
				return err
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			d, err := c.SetPreferences(cmd.Context(), content)
			if err != nil {
				return docProblems(cmd.ErrOrStderr(), file, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Preferences updated (version %d).\n", d.Version)
			return nil
		},
	}
	set.Flags().StringVarP(&file, "file", "f", "", "preferences document (JSON or YAML; - for stdin)")
	var vfile string
	validate := &cobra.Command{
		Use:   "validate -f FILE",
		Short: "Check a preferences or session document without storing it",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			content, err := readDocFile(vfile)
			if err != nil {
				return err
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			res, err := c.ValidateDocument(cmd.Context(), content)
			if err != nil {
				return err
			}
			if res.Valid {
				fmt.Fprintf(cmd.OutOrStdout(), "%s is valid.\n", vfile)
				return nil
			}
			for _, e := range res.Errors {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", vfile, e)
			}
			return exitCode(1)
		},
	}
	validate.Flags().StringVarP(&vfile, "file", "f", "", "document file (JSON or YAML; - for stdin)")
	cmd.AddCommand(get, set, validate)
	return cmd
}
