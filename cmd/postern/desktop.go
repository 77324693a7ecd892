package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/postern/postern/api"
	"github.com/postern/postern/guacvideo"
)

// docDesktop is the built-in document of remote desktop sessions.
const docDesktop = "Postern-StartDesktopSession"

func newDesktopCmd() *cobra.Command {
	var port int
	var reason, doc string
	cmd := &cobra.Command{
		Use:   "desktop NODE [--port 3389]",
		Short: "Open a remote desktop (RDP) on a node in the web console, recorded",
		Long: `Start a desktop session on the node and open it in the web console, where
you sign in to the desktop (its user name and password are used for NLA and
never stored or recorded) and use it in the browser. The server reaches the
node's RDP port through its agent: no inbound port on the node.

The connection is recorded as what the browser was shown: play it in the
console, fetch it (postern logs get ID --format guac) or export it to a video
(postern desktop export ID -o FILE.mp4).`,
		Args: exactArgs(1, "one node id or name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if port < 1 || port > 65535 {
				return usagef("--port %d: must be 1–65535", port)
			}
			c, cfg, err := apiClient()
			if err != nil {
				return err
			}
			sess, err := c.StartSession(cmd.Context(), api.StartSessionRequest{
				Target: args[0], Document: doc, Reason: reason,
				Parameters: map[string]string{"portNumber": strconv.Itoa(port)},
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Starting desktop session with SessionId: %s\n", sess.ID)
			return showURL("Open the desktop in your browser (signed in to the console as "+cfg.User+")",
				strings.TrimRight(cfg.Server, "/")+"/#/desktop/"+sess.ID)
		},
	}
	f := cmd.Flags()
	f.IntVar(&port, "port", 3389, "the RDP port on the node")
	f.StringVar(&reason, "reason", "", "why you open it (recorded with the session)")
	f.StringVar(&doc, "document-name", docDesktop, "a desktop document of the account's (sessionType Port, properties.type RemoteDesktop)")
	cmd.AddCommand(newDesktopPrefsCmd(), newDesktopExportCmd())
	return cmd
}

func newDesktopPrefsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "preferences", Short: "Connection recording preferences (AWS::SSMGuiConnect::Preferences' shape)"}
	get := &cobra.Command{
		Use:   "get",
		Short: "Print the account's connection recording preferences",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			p, err := c.DesktopPreferences(cmd.Context())
			if err != nil {
				return err
			}
			b, _ := json.MarshalIndent(p, "", "  ")
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
	var file string
	set := &cobra.Command{
		Use:   "set -f FILE",
		Short: "Replace them (validated, and the bucket checked, first)",
		Long: `Replace the account's connection recording preferences with FILE ('-':
standard input), JSON in the shape of AWS::SSMGuiConnect::Preferences:

  {"ConnectionRecordingPreferences": {
     "KMSKeyArn": "alias/desktop-recordings",
     "RecordingDestinations": {"S3Buckets": [{"BucketName": "recordings", "BucketOwner": "000000000001"}]},
     "KeyPrefix": "desktops", "RecordKeyEvents": false}}

KeyPrefix and RecordKeyEvents are Postern's own (RecordKeyEvents records the
keys pressed: off by default, as passwords are typed into desktops too).`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			content, err := readDocFile(file)
			if err != nil {
				return err
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if _, err := c.SetDesktopPreferences(cmd.Context(), []byte(content)); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Connection recording preferences updated.")
			return nil
		},
	}
	set.Flags().StringVarP(&file, "file", "f", "", "the preferences (JSON); - for standard input")
	cmd.AddCommand(get, set)
	return cmd
}

func newDesktopExportCmd() *cobra.Command {
	var out string
	var fps int
	var maxIdle time.Duration
	cmd := &cobra.Command{
		Use:   "export ID -o FILE.mp4",
		Short: "Export a desktop session's recording to a video (mp4, mkv or webm; needs ffmpeg)",
		Long: `Render a desktop session's recording to a video file for people who want one
(an auditor's player): the screen as the user saw it, at --fps frames a second,
encoded by ffmpeg, which must be on PATH (Debian: apt-get install ffmpeg). The
container follows the file's extension: .mp4 and .mkv are H.264, .webm VP9.
Long idle pauses can be shortened with --max-idle.`,
		Args: exactArgs(1, "one session id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("-o FILE is required (FILE.mp4, .mkv or .webm)")
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			rc, err := c.Logs(cmd.Context(), args[0], "guac")
			if err != nil {
				return err
			}
			defer rc.Close()
			if err := guacvideo.Export(cmd.Context(), rc, out, guacvideo.Options{FPS: fps, MaxIdle: maxIdle}); err != nil {
				return fmt.Errorf("exporting session %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s.\n", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "the video file to write (.mp4, .mkv or .webm)")
	f.IntVar(&fps, "fps", 10, "frames per second")
	f.DurationVar(&maxIdle, "max-idle", 0, "shorten every pause longer than this (e.g. 10s); 0 keeps real time")
	return cmd
}
