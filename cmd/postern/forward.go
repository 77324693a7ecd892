package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/wire"
)

// Built-in port documents (aliases of AWS-StartPortForwardingSession and
// friends).
const (
	docPortForward       = "Postern-StartPortForwardingSession"
	docPortForwardRemote = "Postern-StartPortForwardingSessionToRemoteHost"
	docSSH               = "Postern-StartSSHSession"
)

func newForwardCmd() *cobra.Command {
	var port, localPort int
	var host, doc, reason string
	cmd := &cobra.Command{
		Use:   "forward NODE --port P [--local-port L] [--host H]",
		Short: "Forward a local port to a port on the node (or a host it can reach)",
		Args:  exactArgs(1, "one node id or name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if port < 1 || port > 65535 {
				return usagef("--port %d: must be 1–65535", port)
			}
			if localPort < 0 || localPort > 65535 {
				return usagef("--local-port %d: must be 0–65535", localPort)
			}
			params := map[string]string{"portNumber": strconv.Itoa(port), "localPortNumber": strconv.Itoa(localPort)}
			if doc == "" {
				doc = docPortForward
				if host != "" {
					doc = docPortForwardRemote
				}
			}
			if host != "" {
				params["host"] = host
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(localPort)))
			if err != nil {
				return fmt.Errorf("cannot listen on local port %d: %w", localPort, err)
			}
			defer ln.Close()
			sess, err := c.StartSession(ctx, api.StartSessionRequest{Target: args[0], Document: doc, Parameters: params, Reason: reason})
			if err != nil {
				return err
			}
			out := cmd.ErrOrStderr()
			fmt.Fprintf(out, "\nStarting session with SessionId: %s\n", sess.ID)
			fmt.Fprintf(out, "Port %d opened for sessionId %s.\nWaiting for connections...\n", ln.Addr().(*net.TCPAddr).Port, sess.ID)
			return runPortSession(ctx, c, sess.ID, out, func(ctx context.Context) error {
				return c.ServeForward(ctx, sess.ID, ln, func(remote string, err error) {
					if err != nil {
						fmt.Fprintf(out, "Connection from %s failed: %v\n", remote, err)
						return
					}
					fmt.Fprintf(out, "\nConnection accepted for session [%s]\n", sess.ID)
				})
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&port, "port", 0, "port on the node (or on --host, reached from the node)")
	f.IntVar(&localPort, "local-port", 0, "local port to listen on (0: a free one)")
	f.StringVar(&host, "host", "", "forward to this host as reached from the node, instead of the node itself")
	f.StringVar(&doc, "document", "", "port session document (default: "+docPortForward+")")
	f.StringVar(&reason, "reason", "", "why (recorded)")
	return cmd
}

func newProxyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "proxy NODE PORT",
		Short: "Tunnel standard input and output to a port on the node (ssh ProxyCommand)",
		Long: `Tunnel standard input and output to a port on the node, for ssh:

  ssh -o ProxyCommand='postern proxy %h %p' user@NODE`,
		Args: exactArgs(2, "a node and a port"),
		RunE: func(cmd *cobra.Command, args []string) error {
			port, err := strconv.Atoi(args[1])
			if err != nil || port < 1 || port > 65535 {
				return usagef("port %q: must be 1–65535", args[1])
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			sess, err := c.StartSession(ctx, api.StartSessionRequest{Target: args[0], Document: docSSH, Parameters: map[string]string{"portNumber": strconv.Itoa(port)}})
			if err != nil {
				return err
			}
			conn, err := c.DialForward(ctx, sess.ID)
			if err != nil {
				c.Terminate(context.WithoutCancel(ctx), sess.ID)
				return err
			}
			wire.Pipe(stdio{}, conn)
			_, err = c.Terminate(context.WithoutCancel(ctx), sess.ID)
			var ce *client.Error
			if errors.As(err, &ce) && ce.Code == api.CodeSessionEnded {
				err = nil
			}
			return err
		},
	}
}

// runPortSession runs serve until the session ends (watched through its
// stream) or the user interrupts; an interrupted session is terminated.
func runPortSession(ctx context.Context, c *client.Client, id string, out io.Writer, serve func(context.Context) error) error {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	ended := make(chan wire.Exit, 1)
	go func() {
		exit, err := c.RunTerminal(sctx, id, client.TerminalIO{Out: io.Discard, Notices: out}, client.ResumeOptions{})
		if err == nil {
			ended <- exit
		}
		cancel()
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- serve(sctx) }()
	select {
	case <-ctx.Done():
		tctx, tcancel := context.WithTimeout(context.Background(), 10*time.Second)
		c.Terminate(tctx, id)
		tcancel()
		cancel()
		<-serveErr
		fmt.Fprintf(out, "\n\nExiting session with sessionId: %s.\n\n", id)
		return nil
	case exit := <-ended:
		cancel()
		<-serveErr
		fmt.Fprintf(out, "\n\nExiting session with sessionId: %s.\n\n", id)
		if exit.Status == "Failed" {
			return fmt.Errorf("session failed: %s", exit.Reason)
		}
		return nil
	case err := <-serveErr:
		cancel()
		return err
	}
}

// stdio is standard input and output as one connection.
type stdio struct{}

func (stdio) Read(p []byte) (int, error)  { return os.Stdin.Read(p) }
func (stdio) Write(p []byte) (int, error) { return os.Stdout.Write(p) }
func (stdio) Close() error                { os.Stdout.Close(); return os.Stdin.Close() }
func (stdio) CloseWrite() error           { return os.Stdout.Close() }
