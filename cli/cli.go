// Package cli is what Postern's command-line programs (postern and
// postern-agent) share: how a command line mistake and an exit code reach
// the process's exit status, argument checks, and the version flag and
// command. It imports nothing of Postern's, so the node agent can use it
// without linking server code.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
)

// ExitCode makes the process exit with a code; the message, if any, has
// already been printed.
type ExitCode int

func (e ExitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// UsageError is a mistake in the command line (exit 2).
type UsageError struct{ error }

func (e UsageError) Unwrap() error { return e.error }

// Usagef is a UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return UsageError{fmt.Errorf(format, args...)}
}

// ExactArgs is cobra.ExactArgs with a usage error; names says what the
// arguments are ("a session ID").
func ExactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return Usagef("%s takes %s\nRun '%s --help' for usage.", cmd.CommandPath(), names, cmd.CommandPath())
		}
		return nil
	}
}

// ParseTags parses key=value flags, each of which may hold several pairs
// separated by commas.
func ParseTags(in []string) (map[string]string, error) {
	out := map[string]string{}
	for _, t := range in {
		for _, kv := range strings.Split(t, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, Usagef("tag %q must be key=value", kv)
			}
			out[k] = v
		}
	}
	return out, nil
}

// Root sets the conventions every Postern program follows on its root
// command: errors are printed once by Main (not by cobra, not with the
// usage), flag mistakes are usage errors, and `--version` and `version`
// print "NAME VERSION" and, on a line of its own, "commit COMMIT".
func Root(root *cobra.Command, version, commit string) *cobra.Command {
	root.SilenceUsage, root.SilenceErrors = true, true
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return UsageError{fmt.Errorf("%v\nRun '%s --help' for usage.", err, c.CommandPath())}
	})
	root.Version = version
	root.SetVersionTemplate("{{.Name}} {{.Version}}\ncommit " + commit + "\n")
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  ExactArgs(0, "no arguments"),
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\ncommit %s\n", root.Name(), version, commit)
		},
	})
	return root
}

// Main runs root with a context that SIGINT and SIGTERM cancel, prints the
// error if any, and exits: 0 ok, 2 a usage error, an ExitCode's code, 1
// for any other error.
func Main(root *cobra.Command) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := root.ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	stop()
	if interrupted && errors.Is(err, context.Canceled) {
		// The user pressed ^C (or the process was asked to stop): that is
		// not an error to explain, and "context canceled" explains
		// nothing. Exit as a shell reports an interrupted command.
		fmt.Fprintln(os.Stderr)
		os.Exit(130)
	}
	os.Exit(Report(root.Name(), err))
}

// Report prints err for the program called name and returns the exit code
// it means.
func Report(name string, err error) int {
	if err == nil {
		return 0
	}
	var ec ExitCode
	if errors.As(err, &ec) {
		return int(ec)
	}
	var ue UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(os.Stderr, "%s: %s\n", name, PrintableText(ue.error.Error()))
		return 2
	}
	// Errors quote what servers and nodes said.
	fmt.Fprintf(os.Stderr, "%s: %s\n", name, PrintableText(err.Error()))
	return 1
}

// Printable returns s safe to print on a terminal: control characters
// (C0, DEL, C1) and invisible formatting characters (bidirectional
// overrides among them) are shown as Go escapes, so that text from a node
// or another user cannot retitle, clear or colour the terminal, write its
// clipboard (OSC 52), or make one name read as another. Text with none
// of them is returned as is.
func Printable(s string) string { return printable(s, false) }

// PrintableText is Printable for text of several lines: line feeds and
// tabs stay as they are.
func PrintableText(s string) string { return printable(s, true) }

func printable(s string, lines bool) string {
	unsafe := func(r rune) bool { return unsafeRune(r) && !(lines && (r == '\n' || r == '\t')) }
	clean := utf8.ValidString(s)
	for _, r := range s {
		if !clean || unsafe(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		r, n := utf8.DecodeRuneInString(s[i:])
		w = n
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !unsafe(r):
			b.WriteRune(r)
		case r == '\t', r == '\n', r == '\r':
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			if r < 0x100 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		}
	}
	return b.String()
}

func unsafeRune(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }
