//go:build unix

package ssmchannel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/ptytest"
	"github.com/postern/postern/ssmchannel/plugintest"
)

// lineShell is a session for the plugin to talk to: it prints what is
// typed, line by line, records terminal sizes, prints a burst of numbered
// lines for "big", and closes the channel for "bye".
type lineShell struct {
	t  *testing.T
	ch *Channel

	mu    sync.Mutex // guards the fields below
	line  []byte
	sizes []string
}

func (s *lineShell) input(ctx context.Context, pt PayloadType, b []byte) {
	if pt != PayloadOutput {
		return
	}
	for _, c := range b {
		if c != '\r' && c != '\n' {
			s.mu.Lock()
			s.line = append(s.line, c)
			s.mu.Unlock()
			continue
		}
		s.mu.Lock()
		line := string(s.line)
		s.line = nil
		s.mu.Unlock()
		switch line {
		case "bye":
			go s.ch.Close(ctx, "closed by the test shell")
		case "big":
			var out bytes.Buffer
			for i := 1; i <= bigLines; i++ {
				fmt.Fprintf(&out, "big-line-%06d\r\n", i)
			}
			go s.ch.Write(ctx, out.Bytes())
		default:
			go s.ch.Write(ctx, []byte("you typed: "+line+"\r\n"))
		}
	}
}

// bigLines is how many lines "big" prints: about 300 KB, more than may
// wait for acknowledgement at once (maxUnacked).
const bigLines = 20000

// TestRealPlugin drives AWS's session-manager-plugin, built from its
// source, in a real terminal against a Channel: the handshake, typed
// input in order, terminal sizes, output larger than the window of
// unacknowledged bytes, and the end of the channel.
func TestRealPlugin(t *testing.T) {
	plugin := plugintest.Path(t)
	ctx := ptytest.Context(t)
	const token = "token-for-the-test"
	shells := make(chan *lineShell, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		open, err := ReadOpen(r.Context(), ws)
		if err != nil || open.TokenValue != token || open.ClientID == "" {
			t.Errorf("opening frame %+v, %v", open, err)
			ws.Close(websocket.StatusPolicyViolation, "bad token")
			return
		}
		s := &lineShell{t: t}
		s.ch = NewChannel(Options{
			SessionType: "Standard_Stream", SessionID: "s-test", Target: "mi-test", Logf: t.Logf,
			Input: func(pt PayloadType, b []byte) { s.input(ctx, pt, b) },
			Resize: func(cols, rows int) {
				s.mu.Lock()
				s.sizes = append(s.sizes, fmt.Sprintf("%dx%d", cols, rows))
				s.mu.Unlock()
			},
		})
		shells <- s
		if err := s.ch.Serve(ctx, ws); err != nil {
			t.Logf("serve: %v", err)
		}
	}))
	defer srv.Close()

	resp, _ := json.Marshal(map[string]string{"SessionId": "s-test", "TokenValue": token, "StreamUrl": "ws" + strings.TrimPrefix(srv.URL, "http") + "/data-channel/s-test"})
	cmd := exec.Command(plugin, string(resp), "us-east-1", "StartSession", "", `{"Target":"mi-test"}`, srv.URL)
	cmd.Env = append(cmd.Environ(), "SSM_PLUGIN_SKIP_CLIENT_CONFIGURE=true")
	p := ptytest.Start(t, cmd)
	p.Expect(ctx, "Starting session with SessionId: s-test")
	s := <-shells

	p.Write("hello world\r")
	p.Expect(ctx, "you typed: hello world")
	p.Write("second\r")
	p.Expect(ctx, "you typed: second")

	p.Resize(101, 37)
	for {
		s.mu.Lock()
		sizes := strings.Join(s.sizes, " ")
		s.mu.Unlock()
		if strings.Contains(sizes, "101x37") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("sizes seen: %q; want 101x37", sizes)
		case <-time.After(20 * time.Millisecond):
		}
	}

	p.Write("big\r")
	p.Expect(ctx, fmt.Sprintf("big-line-%06d", bigLines))
	// Every line once, in order (the terminal turns \r\n into \r\r\n).
	var got []string
	for _, m := range regexp.MustCompile(`big-line-\d{6}`).FindAllString(p.Output(), -1) {
		got = append(got, m)
	}
	if len(got) != bigLines {
		t.Errorf("%d numbered lines printed, want %d", len(got), bigLines)
	}
	for i, l := range got {
		if want := fmt.Sprintf("big-line-%06d", i+1); l != want {
			t.Fatalf("line %d is %s: lines lost, repeated or reordered", i+1, l)
		}
	}

	p.Write("bye\r")
	p.Expect(ctx, "closed by the test shell")
	if code := p.Wait(ctx); code != 0 {
		t.Errorf("the plugin exited %d", code)
	}
}

// TestRealPluginResumes cuts the plugin's connection in the middle of a
// session: the plugin calls ResumeSession at its endpoint, dials again
// with the new token, and the session goes on where it was, output
// written while it was away included, nothing printed twice.
func TestRealPluginResumes(t *testing.T) {
	plugin := plugintest.Path(t)
	ctx := ptytest.Context(t)
	s := &lineShell{t: t}
	s.ch = NewChannel(Options{
		SessionType: "Standard_Stream", SessionID: "s-resume", Target: "mi-test", Logf: t.Logf,
		Input: func(pt PayloadType, b []byte) { s.input(ctx, pt, b) },
	})
	var (
		mu      sync.Mutex // guards the fields below
		conn    *websocket.Conn
		tokens  []string
		resumes int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if got := r.Header.Get("X-Amz-Target"); got != "AmazonSSM.ResumeSession" {
				t.Errorf("the plugin called %s", got)
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			mu.Lock()
			resumes++
			tok := fmt.Sprintf("token-%d", resumes+1)
			mu.Unlock()
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			json.NewEncoder(w).Encode(map[string]string{"SessionId": "s-resume", "TokenValue": tok, "StreamUrl": "ws://ignored"})
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		open, err := ReadOpen(r.Context(), ws)
		if err != nil {
			t.Errorf("opening frame: %v", err)
			return
		}
		mu.Lock()
		conn = ws
		tokens = append(tokens, open.TokenValue)
		mu.Unlock()
		s.ch.Serve(ctx, ws)
	}))
	defer srv.Close()

	resp, _ := json.Marshal(map[string]string{"SessionId": "s-resume", "TokenValue": "token-1", "StreamUrl": "ws" + strings.TrimPrefix(srv.URL, "http") + "/data-channel/s-resume"})
	cmd := exec.Command(plugin, string(resp), "us-east-1", "StartSession", "", `{"Target":"mi-test"}`, srv.URL)
	// The plugin signs ResumeSession with these (the test's server does
	// not check them).
	cmd.Env = append(cmd.Environ(), "SSM_PLUGIN_SKIP_CLIENT_CONFIGURE=true", "AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=secret", "AWS_SESSION_TOKEN=")
	p := ptytest.Start(t, cmd)
	p.Expect(ctx, "Starting session with SessionId: s-resume")
	p.Write("before\r")
	p.Expect(ctx, "you typed: before")

	mu.Lock()
	conn.CloseNow()
	mu.Unlock()
	// Written while the plugin is away: it is shown once it is back.
	if _, err := s.ch.Write(ctx, []byte("written-while-away\r\n")); err != nil {
		t.Fatal(err)
	}
	p.Expect(ctx, "written-while-away")
	p.Write("after\r")
	p.Expect(ctx, "you typed: after")
	mu.Lock()
	if resumes != 1 || len(tokens) != 2 || tokens[1] != "token-2" {
		t.Errorf("%d ResumeSession calls, connections with tokens %q; want one call, then a connection with token-2", resumes, tokens)
	}
	mu.Unlock()
	p.Write("bye\r")
	p.Expect(ctx, "closed by the test shell")
	if code := p.Wait(ctx); code != 0 {
		t.Errorf("the plugin exited %d", code)
	}
	for _, l := range []string{"you typed: before", "written-while-away", "you typed: after"} {
		if n := strings.Count(p.Output(), l); n != 1 {
			t.Errorf("%q shown %d times, want once:\n%s", l, n, p.Output())
		}
	}
}
