package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/postern/postern/api"
	"github.com/postern/postern/cli"
	"github.com/postern/postern/client"
	"github.com/postern/postern/document"
	"github.com/postern/postern/envelope"
	"github.com/postern/postern/firehose"
	"github.com/postern/postern/nodeinstall"
	"github.com/postern/postern/recording"
)

func newLoginCmd() *cobra.Command {
	var server, caFile, account, user string
	var useSSO bool
	cmd := &cobra.Command{
		Use:   "login [--server URL] [--sso]",
		Short: "Sign in and keep a token under $POSTERN_HOME",
		Long: `Sign in with a password, or with --sso through the server's single sign-on:
the CLI opens your browser at the identity provider (or prints the URL to
open) and waits on a loopback port for the result. The sign-in is bound to
the browser that opens that URL and to this command: finish it there, and
never open a sign-in URL someone else gave you. Either way it keeps a
short-lived token and a refresh token under $POSTERN_HOME; commands renew
the token as it expires.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _ := client.LoadConfig(client.Home())
			if server != "" {
				cfg.Server = server
			}
			if cfg.Server == "" {
				return usagef("no server: pass --server https://host:port")
			}
			if caFile != "" {
				b, err := os.ReadFile(caFile)
				if err != nil {
					return err
				}
				cfg.CA = string(b)
			}
			c, err := client.New(cfg)
			if err != nil {
				return err
			}
			var res api.LoginResponse
			if useSSO {
				res, err = c.SSOLogin(cmd.Context(), openBrowser)
			} else {
				in := bufio.NewReader(os.Stdin)
				if user == "" {
					fmt.Fprint(os.Stderr, "User: ")
					l, _ := in.ReadString('\n')
					user = strings.TrimSpace(l)
				}
				var pw string
				if pw, err = readSecret("Password: ", in); err != nil {
					return err
				}
				res, err = c.Login(cmd.Context(), account, user, pw)
			}
			if err != nil {
				return err
			}
			cfg.Token, cfg.RefreshToken, cfg.User, cfg.Account = res.Token, res.RefreshToken, res.User, res.Account
			if err := client.SaveConfig(client.Home(), cfg); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Logged in to %s as %s (account %s) until %s.\n", cfg.Server, res.User, res.Account, fmtTime(res.ExpiresAt))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "server URL, https://host:port")
	f.StringVar(&caFile, "ca-file", "", "server CA certificate (PEM), for servers with a private CA")
	f.StringVar(&account, "account", "", "account id (default: the default account)")
	f.StringVarP(&user, "user", "u", "", "user name (default: ask)")
	f.BoolVar(&useSSO, "sso", false, "sign in through the server's single sign-on, in a browser")
	return cmd
}

func newNodesCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List managed nodes",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			ns, err := c.Nodes(cmd.Context())
			if err != nil {
				return err
			}
			var rows [][]string
			for _, n := range ns {
				rows = append(rows, []string{n.ID, n.Name, n.PingStatus, n.IP, n.Platform, n.AgentVersion, fmtTime(n.LastSeen), fmtTags(n.Tags)})
			}
			return table(cmd.OutOrStdout(), out, []string{"ID", "NAME", "STATUS", "IP", "PLATFORM", "AGENT", "LAST SEEN", "TAGS"}, rows, ns)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "table", "table, json or csv")
	cmd.AddCommand(&cobra.Command{
		Use:   "deregister NODE",
		Short: "Remove a node: its agent is disconnected and refused from now on; its sessions' history stays",
		Args:  exactArgs(1, "one node id or name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if err := c.DeregisterNode(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deregistered node %s. Register it again with a new activation.\n", args[0])
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "upgrade-command",
		Short: "Print the commands that upgrade nodes installed with the node install commands to the server's agent builds",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cfg, err := apiClient()
			if err != nil {
				return err
			}
			unix, windows := nodeCommands(cmd.Context(), c, cmd.ErrOrStderr(), "upgrade",
				func(caPEM []byte, through bool) (string, error) {
					if !through {
						return "", nil // a certificate the nodes' systems trust
					}
					return nodeinstall.CAPin(caPEM)
				},
				func(caPEM []byte, pin string) string { return nodeinstall.UpgradeCommand(cfg.Server, caPEM, pin) },
				func(script []byte) string { return nodeinstall.WindowsUpgradeCommand(cfg.Server, script) })
			w := cmd.OutOrStdout()
			if unix != "" {
				fmt.Fprintf(w, "On each Linux or macOS node installed with the node install command, in sh, bash or zsh:\n  %s\n\n", unix)
			}
			if windows != "" {
				fmt.Fprintf(w, "On each Windows node, in PowerShell as an administrator (it holds the SHA-256 of install.ps1 as the server serves it now: print it again after the server's Windows build changes):\n  %s\n\n", windows)
			}
			if unix == "" && windows == "" {
				return errors.New("this server offers no agent downloads (agentDownloads): there is nothing to upgrade to")
			}
			fmt.Fprintln(w, "Nodes installed by a package upgrade with the package.")
			return nil
		},
	})
	return cmd
}

// nodeCommands makes the node install (or upgrade) commands for the kinds
// of node the server has agent builds for: unix's for Linux and macOS,
// windows's for Windows; "" for a kind it has none for (a server with no
// downloads answers 404), or whose parts could not be had (said on
// stderr). The commands check what they fetch by its SHA-256 (the CA for
// unix's when pinned, install.ps1 for windows's): these are those files,
// read over this client's trusted connection. pin picks the CA pin for
// unix's: through says whether this connection was verified through the
// server's CA; "" for none.
func nodeCommands(ctx context.Context, c *client.Client, stderr io.Writer, what string,
	pin func(caPEM []byte, through bool) (string, error),
	unix func(caPEM []byte, pin string) string, windows func(script []byte) string) (unixCmd, windowsCmd string) {
	sums, _ := c.AgentDownloadSums(ctx)
	offersUnix, offersWindows := nodeinstall.Offers(sums)
	if offersUnix {
		caPEM, through, err := c.InstallCA(ctx)
		p := ""
		if err == nil {
			p, err = pin(caPEM, through)
		}
		if err != nil {
			fmt.Fprintf(stderr, "postern: no %s command for Linux and macOS nodes: %v\n", what, err)
		} else {
			unixCmd = unix(caPEM, p)
		}
	}
	if offersWindows {
		if script, err := c.InstallScriptPS(ctx); err != nil {
			fmt.Fprintf(stderr, "postern: no %s command for Windows nodes: %v\n", what, err)
		} else {
			windowsCmd = windows(script)
		}
	}
	return unixCmd, windowsCmd
}

func newConnectCmd() *cobra.Command {
	var req api.StartSessionRequest
	var params []string
	cmd := &cobra.Command{
		Use:   "connect NODE",
		Short: "Open an interactive shell on a node",
		Args:  exactArgs(1, "one node id or name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Target = args[0]
			p, err := document.ParseParameters(params)
			if err != nil {
				return usagef("%v", err)
			}
			if len(p) > 0 {
				req.Parameters = p
			}
			return runConnect(cmd, req)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Document, "document", "", "session document")
	f.StringArrayVar(&params, "parameters", nil, `document parameters: k=v[,k=v], k="v,w", k=[a,b] or AWS CLI JSON {"k":["v"]}`)
	f.StringVar(&req.Reason, "reason", "", "why you are connecting (recorded)")
	return cmd
}

func newExecCmd() *cobra.Command {
	var tty bool
	var reason string
	cmd := &cobra.Command{
		Use:   "exec NODE [--tty] -- CMD [ARGS...]",
		Short: "Run a command on a node, recorded; exits with its exit code",
		Long: `Run a command on a node in a recorded session and exit with its exit code.

Without --tty the command runs without a terminal, as Session Manager's
NonInteractiveCommands sessions do: its standard output and standard error
arrive here separately and byte for byte, and this command's standard input
is its standard input, end of file included, so it works in pipelines:

  printf 'b\na\n' | postern exec web-1 -- sort > sorted.txt

With --tty it runs in a pseudo-terminal on the node (InteractiveCommands),
and a terminal here is put in raw mode, for interactive programs. Both are
recorded; without a terminal, everything given on standard input is
recorded too, since no echo tells a password prompt from the rest.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 || cmd.ArgsLenAtDash() != 1 {
				return usagef("usage: postern exec NODE [--tty] -- CMD [ARGS...]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSession(cmd, api.StartSessionRequest{Target: args[0], Command: args[1:], Reason: reason, Pipes: !tty}, tty, false)
		},
	}
	cmd.Flags().BoolVarP(&tty, "tty", "t", false, "run in a pseudo-terminal, this terminal in raw mode (interactive programs)")
	cmd.Flags().StringVar(&reason, "reason", "", "why you are running it (recorded)")
	return cmd
}

func runConnect(cmd *cobra.Command, req api.StartSessionRequest) error {
	return runSession(cmd, req, true, true)
}

// runSession starts a session and runs it on this terminal. raw puts a
// terminal stdin in raw mode; banner prints Session Manager's start and
// exit lines.
func runSession(cmd *cobra.Command, req api.StartSessionRequest, raw, banner bool) error {
	c, _, err := apiClient()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	inFd, outFd := int(os.Stdin.Fd()), int(os.Stdout.Fd())
	isTTY := raw && term.IsTerminal(inFd)
	size := client.Size{}
	if w, h, err := term.GetSize(outFd); err == nil && !req.Pipes {
		size = client.Size{Cols: w, Rows: h}
		req.Cols, req.Rows = w, h
	}
	sess, err := c.StartSession(ctx, req)
	if err != nil {
		return err
	}
	if sess.Pipes {
		// No terminal on the node (exec without --tty, or a
		// NonInteractiveCommands document): nothing to make raw or size.
		isTTY, size = false, client.Size{}
	}
	if banner {
		fmt.Fprintf(os.Stderr, "\nStarting session with SessionId: %s\n\n", sess.ID)
	}
	tio := client.TerminalIO{In: os.Stdin, Out: os.Stdout, Notices: os.Stderr, Size: size, Pipes: sess.Pipes, Stderr: os.Stderr}
	restore := func() {}
	if isTTY {
		old, err := term.MakeRaw(inFd)
		if err != nil {
			return fmt.Errorf("cannot put the terminal in raw mode: %w", err)
		}
		restore = func() { term.Restore(inFd, old) }
		defer restore()
		tio.Sizes = client.WatchSize(ctx, outFd)
	}
	exit, err := c.RunTerminal(ctx, sess.ID, tio, client.ResumeOptions{})
	restore()
	var incomplete *client.IncompleteOutputError
	if errors.As(err, &incomplete) {
		// Already said on the terminal. A script must not take partial
		// output for the whole, whatever the command's own exit code.
		return exitCode(255)
	}
	if err != nil {
		return err
	}
	if banner {
		fmt.Fprintf(os.Stderr, "\n\nExiting session with sessionId: %s.\n\n", sess.ID)
	}
	if exit.Status == "Failed" {
		fmt.Fprintf(os.Stderr, "postern: session failed: %s\n", exit.Reason)
	}
	if exit.Code != 0 {
		return exitCode(exit.Code)
	}
	return nil
}

func newSessionsCmd() *cobra.Command {
	var f client.SessionFilter
	var out string
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "List sessions (active and history)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.State != "" && f.State != "active" && f.State != "history" {
				return usagef("--state %q: must be active or history", f.State)
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			ss, err := c.Sessions(cmd.Context(), f)
			if err != nil {
				return err
			}
			header := []string{"SESSION", "OWNER", "TARGET", "TYPE", "STATUS", "REASON", "STARTED", "ENDED", "EXIT"}
			labels := targetLabels(ss)
			var rows [][]string
			for _, s := range ss {
				row := sessionRow(s)
				if out == "csv" {
					// For programs: the id, and the name beside it.
					row = slices.Insert(row, 3, s.TargetName)
				} else {
					row[2] = labels[s.Target]
				}
				rows = append(rows, row)
			}
			if out == "csv" {
				header = slices.Insert(header, 3, "TARGET NAME")
			}
			return table(cmd.OutOrStdout(), out, header, rows, ss)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.State, "state", "", "active or history (default: both)")
	fl.StringVar(&f.Target, "target", "", "only sessions on this node")
	fl.StringVar(&f.Owner, "owner", "", "only sessions of this user")
	fl.StringVar(&f.Since, "since", "", "only sessions started within this long (e.g. 30d, 12h)")
	fl.StringVarP(&out, "output", "o", "table", "table, json or csv")

	var showOut string
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one session",
		Args:  exactArgs(1, "one session id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			s, err := c.Session(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if showOut == "json" {
				return table(cmd.OutOrStdout(), "json", nil, nil, s)
			}
			w := cmd.OutOrStdout()
			row := sessionRow(s)
			target := s.Target
			if s.TargetName != "" {
				target = s.TargetName + " (" + s.Target + ")"
			}
			lines := [][2]string{{"Session", row[0]}, {"Owner", row[1]}, {"Target", target}, {"Type", row[3]}}
			if p := s.Port; p != nil {
				lines = append(lines, [2]string{"Port", portTarget(*p)})
			}
			for i, h := range []string{"Status", "Reason", "Started", "Ended", "Exit code"} {
				lines = append(lines, [2]string{h, row[4+i]})
			}
			if s.RunAsUser != "" {
				lines = append(lines, [2]string{"Run as", s.RunAsUser})
			}
			if s.Reason != "" {
				lines = append(lines, [2]string{"Why", s.Reason})
			}
			for _, l := range lines {
				fmt.Fprintf(w, "%-11s %s\n", l[0]+":", cli.Printable(l[1]))
			}
			fmt.Fprintln(w, "Logs:")
			for _, l := range s.Logs {
				fmt.Fprintf(w, "  %-6s %-8s %-10s %s\n", l.Destination, l.Format, l.Status, l.Location)
			}
			if s.Port != nil {
				return printConnections(cmd.Context(), w, c, s.ID)
			}
			return nil
		},
	}
	show.Flags().StringVarP(&showOut, "output", "o", "text", "text or json")
	watch := &cobra.Command{
		Use:   "watch ID",
		Short: "Watch a live session, read-only",
		Long: `Watch someone's live session as it happens: the output so far, then
what follows, until it ends. Nothing you type reaches it. It takes the
ObserveSession permission (auditors have it by default), and the audit
trail records who watched.`,
		Args: exactArgs(1, "a session ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			sess, err := c.Session(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			tio := client.TerminalIO{Out: os.Stdout, Notices: os.Stderr, Pipes: sess.Pipes, Stderr: os.Stdout}
			exit, err := c.RunTerminal(cmd.Context(), sess.ID, tio, client.ResumeOptions{Observe: true})
			var incomplete *client.IncompleteOutputError
			if errors.As(err, &incomplete) {
				return exitCode(1) // already said on the terminal
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "\n[postern: session %s ended: %s, exit code %d]\n", sess.ID, exit.Status, exit.Code)
			return nil
		},
	}
	cmd.AddCommand(show, watch)
	return cmd
}

func sessionRow(s api.Session) []string {
	end, code := "-", "-"
	if s.EndedAt != nil {
		end = fmtTime(*s.EndedAt)
	}
	if s.ExitCode != nil {
		code = fmt.Sprint(*s.ExitCode)
	}
	reason := s.StatusReason
	if reason == "" {
		reason = "-"
	}
	return []string{s.ID, s.Owner, s.Target, orDash(s.SessionType), s.Status, reason, fmtTime(s.StartedAt), end, code}
}

// targetLabels says how the sessions table names each session's target:
// by its node's name, or by its id where the server gave no name (the
// node is no longer registered, or the caller may not describe it), or
// both where two targets in the listing have the same name (registration
// keeps names unique in an account, but nodes registered before it did
// may share one).
func targetLabels(ss []api.Session) map[string]string {
	ids := map[string]map[string]bool{} // name -> the targets that have it
	for _, s := range ss {
		if s.TargetName == "" {
			continue
		}
		if ids[s.TargetName] == nil {
			ids[s.TargetName] = map[string]bool{}
		}
		ids[s.TargetName][s.Target] = true
	}
	out := map[string]string{}
	for _, s := range ss {
		switch {
		case s.TargetName == "":
			out[s.Target] = s.Target
		case len(ids[s.TargetName]) > 1:
			out[s.Target] = s.TargetName + " (" + s.Target + ")"
		default:
			out[s.Target] = s.TargetName
		}
	}
	return out
}

// portTarget is where a port session's connections go.
func portTarget(p api.PortForward) string {
	host := p.Host
	if host == "" {
		host = "localhost"
	}
	return net.JoinHostPort(host, strconv.Itoa(p.PortNumber))
}

// printConnections lists a port session's forwarded connections under
// sessions show.
func printConnections(ctx context.Context, w io.Writer, c *client.Client, id string) error {
	cs, err := c.Connections(ctx, id)
	if err != nil {
		fmt.Fprintf(w, "Connections: cannot be listed: %s\n", cli.Printable(err.Error()))
		return nil
	}
	if len(cs) == 0 {
		fmt.Fprintln(w, "Connections: none")
		return nil
	}
	fmt.Fprintln(w, "Connections:")
	count := func(n *int64) string {
		if n == nil {
			return "-"
		}
		return strconv.FormatInt(*n, 10)
	}
	var rows [][]string
	for _, cn := range cs {
		closed, dur := "open", "-"
		if cn.EndTime != nil {
			closed = fmtTime(*cn.EndTime)
			dur = cn.EndTime.Sub(cn.StartTime).Round(time.Millisecond).String()
		}
		rows = append(rows, []string{strconv.Itoa(cn.ID), cn.ClientAddress, net.JoinHostPort(cn.TargetHost, strconv.Itoa(cn.TargetPort)),
			fmtTime(cn.StartTime), closed, dur, count(cn.BytesFromClient), count(cn.BytesFromTarget), orDash(cn.CloseReason), orDash(shorten(cn.Detail, 100))})
	}
	var b strings.Builder
	if err := table(&b, "table", []string{"ID", "CLIENT", "TARGET", "OPENED", "CLOSED", "DURATION", "FROM CLIENT", "FROM TARGET", "CLOSE REASON", "DETAIL"}, rows, nil); err != nil {
		return err
	}
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		if line != "" {
			io.WriteString(w, "  "+line)
		}
	}
	return nil
}

func newTerminateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "terminate ID",
		Short: "End a session",
		Args:  exactArgs(1, "one session id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			s, err := c.Terminate(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Session %s: %s\n", s.ID, s.Status)
			return nil
		},
	}
}

func newLogsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "logs", Short: "Read session recordings"}
	var format string
	get := &cobra.Command{
		Use:   "get ID",
		Short: "Print a session's recording: the transcript (log) or the asciicast (cast)",
		Args:  exactArgs(1, "one session id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "log" && format != "cast" {
				return usagef("--format %q: must be log or cast", format)
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			rc, err := c.Logs(cmd.Context(), args[0], format)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(cmd.OutOrStdout(), rc)
			return err
		},
	}
	get.Flags().StringVar(&format, "format", "log", "log or cast")
	var speed float64
	var idle time.Duration
	play := &cobra.Command{
		Use:   "play ID",
		Short: "Replay a session in this terminal",
		Args:  exactArgs(1, "one session id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if speed <= 0 {
				return usagef("--speed must be positive")
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			rc, err := c.Logs(cmd.Context(), args[0], "cast")
			if err != nil {
				return err
			}
			defer rc.Close()
			return recording.Play(cmd.Context(), cmd.OutOrStdout(), rc, recording.PlayOptions{Speed: speed, IdleLimit: idle})
		},
	}
	play.Flags().Float64Var(&speed, "speed", 1, "playback speed factor")
	play.Flags().DurationVar(&idle, "idle-limit", 2*time.Second, "cap pauses at this long")
	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a session's logs for good (crypto-shredding): its recording becomes unreadable wherever a copy is",
		Args:  exactArgs(1, "one session id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			res, err := c.DeleteLogs(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if res.Shredded {
				fmt.Fprintf(w, "Session %s: its key is destroyed; no copy of its recording can be decrypted.\n", res.SessionID)
			} else {
				fmt.Fprintf(w, "Session %s: its recording was not encrypted (recorded by an older version); the copies Postern holds are deleted.\n", res.SessionID)
			}
			fmt.Fprintf(w, "Recording removed: %v; built-in log streams deleted: %d.\n", res.JournalRemoved, res.LogStreamsDeleted)
			for _, loc := range res.Elsewhere {
				fmt.Fprintf(w, "Delivered elsewhere, delete it there too: %s\n", loc)
			}
			return nil
		},
	}
	var decryptOut string
	decrypt := &cobra.Command{
		Use:   "decrypt FILE",
		Short: "Decrypt a session artifact Postern encrypted before uploading it (S3 client-side encryption)",
		Long: `Decrypt a .log or .cast that Postern uploaded encrypted (package envelope's
format: a JSON header naming the session and its wrapped key, then AES-256-GCM
chunks). The server gives the artifact's key to users the key's policy lets
decrypt, until the session's logs are deleted. An organization's archive
copy (postern org archive) opens with the archive's key instead, for whoever
its policy lets decrypt, and stays readable when the session is deleted; so
do the batches it ships of the accounts' session log groups. A delivery
stream's object (postern delivery-streams create --kms-key) opens with the
stream's key.
Nothing is written unless the whole file checks out.`,
		Args: exactArgs(1, "one file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			r, err := envelope.NewReader(f)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			h := r.Header()
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			var key []byte
			if h.DeliveryStream != "" {
				// A delivery stream's object: its key is the stream's.
				_, name, perr := firehose.ParseARN(h.DeliveryStream)
				if perr != nil {
					return fmt.Errorf("%s: %w", args[0], perr)
				}
				key, err = c.DeliveryStreamKey(cmd.Context(), name, api.DeliveryStreamKeyRequest{Object: h.SessionID, WrappedKey: h.WrappedKey, Context: h.Context})
			} else if h.Archive != "" {
				// An organization's archive copy: its key is the
				// archive's, whoever's session it is.
				key, err = c.ArchiveKey(cmd.Context(), api.ArchiveKeyRequest{Account: h.Account, SessionID: h.SessionID, Artifact: h.Artifact,
					KeyARN: h.KeyARN, WrappedKey: h.WrappedKey, Context: h.Context})
			} else {
				key, err = c.ArtifactKey(cmd.Context(), h.SessionID, api.ArtifactKeyRequest{Artifact: h.Artifact, WrappedKey: h.WrappedKey, Context: h.Context})
			}
			if err != nil {
				return err
			}
			// Into a temporary file first: a tampered file must not
			// leave half a transcript behind.
			dir := os.TempDir()
			if decryptOut != "" && decryptOut != "-" {
				dir = filepath.Dir(decryptOut)
			}
			tmp, err := os.CreateTemp(dir, ".postern-decrypt-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			defer tmp.Close()
			if err := r.Decrypt(key, tmp); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if decryptOut != "" && decryptOut != "-" {
				if err := tmp.Close(); err != nil {
					return err
				}
				return os.Rename(tmp.Name(), decryptOut)
			}
			if _, err := tmp.Seek(0, io.SeekStart); err != nil {
				return err
			}
			_, err = io.Copy(cmd.OutOrStdout(), tmp)
			return err
		},
	}
	decrypt.Flags().StringVarP(&decryptOut, "output", "o", "-", "where to write the plain artifact (- for standard output)")
	cmd.AddCommand(get, play, del, decrypt)
	cmd.AddCommand(newLogGroupsCmds()...)
	return cmd
}

func newActivationsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "activations", Short: "Create and list node activations"}
	var req api.CreateActivationRequest
	var tags []string
	var createOut string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an activation code for registering nodes",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if createOut != "text" && createOut != "json" {
				return usagef("-o %q: must be text or json", createOut)
			}
			t, err := parseTags(tags)
			if err != nil {
				return err
			}
			if len(t) > 0 {
				req.Tags = t
			}
			c, cfg, err := apiClient()
			if err != nil {
				return err
			}
			a, err := c.CreateActivation(cmd.Context(), req)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			install, installWindows := nodeCommands(cmd.Context(), c, cmd.ErrOrStderr(), "install",
				func(caPEM []byte, _ bool) (string, error) {
					if a.CAPin == "" {
						return "", nil
					}
					return a.CAPin, nodeinstall.CheckCA(caPEM, a.CAPin)
				},
				func(caPEM []byte, pin string) string {
					return nodeinstall.Command(cfg.Server, caPEM, a.Code, a.ID, pin)
				},
				func(script []byte) string {
					return nodeinstall.WindowsCommand(cfg.Server, script, a.Code, a.ID, a.CAPin)
				})
			if createOut == "json" {
				// With the server, so that a script has the whole
				// register command, and the install commands.
				return table(w, "json", nil, nil, struct {
					api.Activation
					Server                string `json:"server"`
					InstallCommand        string `json:"installCommand,omitempty"`
					WindowsInstallCommand string `json:"windowsInstallCommand,omitempty"`
				}{a, cfg.Server, install, installWindows})
			}
			fmt.Fprintf(w, "Activation Code: %s\nActivation ID:   %s\nExpires:         %s\nRegistrations:   %d\n\n", a.Code, a.ID, fmtTime(a.ExpiresAt), a.RegistrationLimit)
			if install != "" {
				how := "it downloads the agent from the server, registers the node and starts the agent's service"
				if a.CAPin != "" {
					how = "it checks the server's CA against the activation's pin first, then " + how[3:]
				}
				fmt.Fprintf(w, "On each Linux or macOS node, in sh, bash or zsh (%s):\n  %s\n\n", how, install)
			}
			if installWindows != "" {
				fmt.Fprintf(w, "On each Windows node, in PowerShell as an administrator (it checks install.ps1's SHA-256 before running it, and the script the agent's; the agent registers with the pin and installs its service):\n  %s\n\n", installWindows)
			}
			if install == "" && installWindows == "" {
				fmt.Fprintf(w, "(This server offers no agent downloads: with agentDownloads set, this prints a one-line install for each kind of node.)\n\n")
			}
			pin := ""
			if a.CAPin != "" {
				pin = " --ca-pin " + a.CAPin
			}
			fmt.Fprintf(w, "Or, where postern-agent is installed:\n  postern-agent register --server %s --code %s --id %s%s\n  postern-agent run\n", cfg.Server, a.Code, a.ID, pin)
			return nil
		},
	}
	f := create.Flags()
	f.IntVar(&req.RegistrationLimit, "count", 1, "how many nodes may register with it")
	f.StringVar(&req.ExpiresIn, "expires", "24h", "validity (e.g. 24h, 7d; at most 30d)")
	f.StringVar(&req.Description, "description", "", "description")
	f.StringVar(&req.DefaultName, "name", "", "default name for the nodes")
	f.StringArrayVar(&tags, "tag", nil, "tag key=value for the nodes (repeatable)")
	f.StringVarP(&createOut, "output", "o", "text", "text, or json (with the server's URL)")
	var out string
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List activations",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			as, err := c.Activations(cmd.Context())
			if err != nil {
				return err
			}
			var rows [][]string
			for _, a := range as {
				rows = append(rows, []string{a.ID, fmt.Sprintf("%d/%d", a.RegistrationCount, a.RegistrationLimit), fmtTime(a.ExpiresAt), fmt.Sprint(a.Expired), orDash(fmtTags(a.Tags)), a.Description})
			}
			return table(cmd.OutOrStdout(), out, []string{"ID", "REGISTERED", "EXPIRES", "EXPIRED", "TAGS", "DESCRIPTION"}, rows, as)
		},
	}
	ls.Flags().StringVarP(&out, "output", "o", "table", "table, json or csv")
	cmd.AddCommand(create, ls)
	return cmd
}
