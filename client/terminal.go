package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/api"
	"github.com/postern/postern/wire"
)

// Size is a terminal's size in cells.
type Size struct{ Cols, Rows int }

// TerminalIO connects a session to the user's terminal.
type TerminalIO struct {
	In      io.Reader   // keystrokes
	Out     io.Writer   // the session's output
	Notices io.Writer   // Postern's own messages (reconnecting, ...); nil: Out
	Sizes   <-chan Size // window size changes; nil: never resized
	Size    Size        // the size at start

	// Pipes is set for a session without a terminal (api.Session.Pipes):
	// Out gets the command's standard output and Stderr (nil: Notices)
	// its standard error, byte for byte, and the end of In ends the
	// command's standard input. Notices then end lines with "\n" alone.
	Pipes  bool
	Stderr io.Writer
}

// ResumeOptions control reconnection.
type ResumeOptions struct {
	// Grace is how long to keep trying to reconnect after the connection
	// drops (default 2 minutes, the server's default grace period).
	Grace time.Duration
	// MinBackoff and MaxBackoff bound the delay between attempts
	// (defaults 200ms and 5s).
	MinBackoff, MaxBackoff time.Duration
	// Observe watches someone else's session read-only (the server drops
	// input); TerminalIO.In and Sizes are then ignored.
	Observe bool
}

// ExitError reports how a session ended when it did not end with exit code
// 0 by itself.
type ExitError struct {
	Code   int
	Reason string
	Status string
}

func (e *ExitError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("session ended (%s): %s", e.Status, e.Reason)
	}
	return fmt.Sprintf("session ended with exit code %d", e.Code)
}

// IncompleteOutputError reports a session that ended while this client
// was away and whose output after what the client showed could not all be
// sent (the server says how long the output is, or why it cannot read it).
// Exit is how the session ended; the recording may still hold the rest.
type IncompleteOutputError struct {
	SessionID string
	Exit      wire.Exit
	Shown     uint64 // bytes of output this client showed
}

func (e *IncompleteOutputError) Error() string {
	var what string
	if e.Exit.OutputError != "" {
		what = fmt.Sprintf("the output after byte %d could not be fetched: %s", e.Shown, e.Exit.OutputError)
	} else {
		what = fmt.Sprintf("%d bytes of output after byte %d could not be fetched", e.Exit.OutputEnd-e.Shown, e.Shown)
	}
	return fmt.Sprintf("session %s ended (%s, exit code %d) while this client was away, and %s; see postern logs get %s",
		e.SessionID, e.Exit.Status, e.Exit.Code, what, e.SessionID)
}

// RunTerminal attaches to a session and runs it on tio until it ends,
// reconnecting and resuming exactly where the output left off when the
// connection drops. It returns the session's exit code; when the session
// ended while the client was away and not all of its output could be
// fetched, it says so on tio.Notices and returns an *IncompleteOutputError
// along with the exit.
func (c *Client) RunTerminal(ctx context.Context, sessionID string, tio TerminalIO, opts ResumeOptions) (wire.Exit, error) {
	if opts.Grace == 0 {
		opts.Grace = 2 * time.Minute
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	if tio.Notices == nil {
		tio.Notices = tio.Out
	}
	nl := "\r\n"
	if tio.Pipes {
		if tio.Stderr == nil {
			tio.Stderr = tio.Notices
		}
		// The stream is chunks of both outputs. The demultiplexer lives
		// as long as the session, so a chunk cut by a reconnect goes on
		// where it stopped.
		tio.Out = &wire.StreamDemux{Stdout: tio.Out, Stderr: tio.Stderr}
		nl = "\n"
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// One reader of the user's input for the whole session, across
	// reconnects. It cannot be interrupted (a blocking read of stdin), so
	// it is owned by the process, not by this call. In a session without
	// a terminal, the end of the input is sent on as nil.
	input := make(chan []byte, 64)
	if opts.Observe {
		tio.In, tio.Sizes = nil, nil
	}
	if tio.In != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := tio.In.Read(buf)
				if n > 0 {
					select {
					case input <- append([]byte(nil), buf[:n]...):
					case <-ctx.Done():
						return
					}
				}
				if err != nil {
					if tio.Pipes {
						select {
						case input <- nil:
						case <-ctx.Done():
						}
					}
					return
				}
			}
		}()
	}
	inputEnded := false // the end of input was read, so every attachment sends it

	var offset uint64
	size := tio.Size
	var lostAt time.Time
	backoff := opts.MinBackoff
	for {
		ws, err := c.attach(ctx, sessionID, offset, opts.Observe)
		if err != nil {
			if ctx.Err() != nil {
				return wire.Exit{}, ctx.Err()
			}
			if lostAt.IsZero() || !retryable(err) || time.Since(lostAt) > opts.Grace {
				return wire.Exit{}, err
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return wire.Exit{}, ctx.Err()
			}
			backoff = min(2*backoff, opts.MaxBackoff)
			continue
		}
		if !lostAt.IsZero() {
			fmt.Fprintf(tio.Notices, "%s[postern: reconnected]%s", nl, nl)
		}
		backoff = opts.MinBackoff
		exit, ended, err := c.runAttached(ctx, ws, &offset, &size, input, &inputEnded, tio, nl)
		if ended {
			if exit.OutputError != "" || offset < exit.OutputEnd {
				inc := &IncompleteOutputError{SessionID: sessionID, Exit: exit, Shown: offset}
				fmt.Fprintf(tio.Notices, "%s[postern: %v]%s", nl, inc, nl)
				return exit, inc
			}
			return exit, nil
		}
		if ctx.Err() != nil {
			return wire.Exit{}, ctx.Err()
		}
		var pe *protocolError
		if errors.As(err, &pe) {
			return wire.Exit{}, err
		}
		lostAt = time.Now()
		fmt.Fprintf(tio.Notices, "%s[postern: connection lost; reconnecting for up to %v]%s", nl, opts.Grace, nl)
	}
}

type protocolError struct{ err error }

func (e *protocolError) Error() string { return "protocol error: " + e.err.Error() }

// runAttached runs one attachment. It reports ended when the session is
// over.
func (c *Client) runAttached(ctx context.Context, ws *websocket.Conn, offset *uint64, size *Size, input <-chan []byte, inputEnded *bool, tio TerminalIO, nl string) (wire.Exit, bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer ws.CloseNow()
	send := func(t wire.Type, p []byte) error {
		return ws.Write(ctx, websocket.MessageBinary, wire.AppendFrame(nil, t, p))
	}
	if *inputEnded {
		// It may not have reached the node before the last attachment
		// broke; the node takes it once.
		if err := send(wire.TInputEOF, nil); err != nil {
			return wire.Exit{}, false, err
		}
	}
	if size.Cols > 0 && size.Rows > 0 && !tio.Pipes {
		if err := send(wire.TResize, wire.AppendResize(nil, size.Cols, size.Rows)); err != nil {
			return wire.Exit{}, false, err
		}
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for {
			select {
			case <-ctx.Done():
				return
			case b := <-input:
				if b == nil {
					*inputEnded = true
					if err := send(wire.TInputEOF, nil); err != nil {
						return
					}
					continue
				}
				if err := send(wire.TInput, b); err != nil {
					return
				}
			case sz, ok := <-tio.Sizes:
				if !ok {
					tio.Sizes = nil
					continue
				}
				*size = sz
				if err := send(wire.TResize, wire.AppendResize(nil, sz.Cols, sz.Rows)); err != nil {
					return
				}
			}
		}
	}()
	defer func() { cancel(); <-writerDone }()
	// A black-holed link never errors by itself: ping to notice.
	go wire.KeepAlive(ctx, ws)
	msgs := readMessages(ctx, ws)
	defer msgs.stop()
	for {
		m, ok := msgs.next()
		if !ok {
			return wire.Exit{}, false, ctx.Err()
		}
		if m.err != nil {
			return wire.Exit{}, false, m.err
		}
		f := m.frame
		switch f.Type {
		case wire.TOutput:
			off, data, err := wire.ParseOutput(f.Payload)
			if err != nil {
				return wire.Exit{}, false, &protocolError{err}
			}
			if off > *offset {
				return wire.Exit{}, false, &protocolError{fmt.Errorf("output resumes at %d, expected %d", off, *offset)}
			}
			skip := *offset - off // already shown before a reconnect
			if skip < uint64(len(data)) {
				data = data[skip:]
				if _, err := tio.Out.Write(data); err != nil {
					return wire.Exit{}, false, &protocolError{fmt.Errorf("writing output: %w", err)}
				}
				*offset += uint64(len(data))
			}
		case wire.TNotice:
			fmt.Fprintf(tio.Notices, "%s%s%s", nl, f.Payload, nl)
		case wire.TExit:
			var e wire.Exit
			if err := wire.DecodeJSON(f, &e); err != nil {
				return wire.Exit{}, false, &protocolError{err}
			}
			return e, true, nil
		case wire.TError:
			return wire.Exit{}, false, &protocolError{errors.New(string(f.Payload))}
		default:
			return wire.Exit{}, false, &protocolError{fmt.Errorf("unexpected %s frame", f.Type)}
		}
		msgs.done(m)
	}
}

// readAhead is how many messages of the session WebSocket are read ahead
// of the one whose output is being written.
const readAhead = 2

// message is one frame read from the session WebSocket, in a buffer of
// its reader's, or the error that ended the reading.
type message struct {
	frame wire.Frame
	buf   []byte
	err   error
}

// messageReader reads the session WebSocket in a goroutine of its own
// while the caller writes output: a terminal takes output at its own pace,
// and blocks the write until it has room, and meanwhile the next messages
// are already read off the connection and decrypted, ready to refill it
// the moment it has room, as ssh's single loop does by polling both. It
// holds at most readAhead+1 messages (a server's output frames are at most
// 256 KiB) in buffers it reuses, so bulk output allocates nothing per
// message.
type messageReader struct {
	msgs    chan message  // in order; closed when the reading ends
	free    chan []byte   // buffers handed back by done
	cancel  func()        // stops the reading
	stopped chan struct{} // closed when the goroutine has ended
}

// readMessages starts reading ws; stop ends it. The goroutine ends after
// the first error (which it hands over as the last message) or when ctx
// or stop cancels.
func readMessages(ctx context.Context, ws *websocket.Conn) *messageReader {
	ctx, cancel := context.WithCancel(ctx)
	mr := &messageReader{
		msgs:    make(chan message, readAhead),
		free:    make(chan []byte, readAhead+1),
		cancel:  cancel,
		stopped: make(chan struct{}),
	}
	for range readAhead + 1 {
		mr.free <- nil
	}
	go func() {
		defer close(mr.stopped)
		defer close(mr.msgs)
		for {
			var buf []byte
			select {
			case buf = <-mr.free:
			case <-ctx.Done():
				return
			}
			m := readMessage(ctx, ws, buf)
			select {
			case mr.msgs <- m:
			case <-ctx.Done():
				return
			}
			if m.err != nil {
				return
			}
		}
	}()
	return mr
}

// readMessage reads one message into buf's storage.
func readMessage(ctx context.Context, ws *websocket.Conn, buf []byte) message {
	typ, r, err := ws.Reader(ctx)
	if err != nil {
		return message{buf: buf, err: err}
	}
	if typ != websocket.MessageBinary {
		return message{buf: buf, err: &protocolError{errors.New("text message from the server")}}
	}
	f, buf, err := wire.ReadMessage(r, buf)
	if errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrTooLarge) || errors.Is(err, wire.ErrUnknownType) {
		err = &protocolError{err}
	}
	return message{frame: f, buf: buf, err: err}
}

// next returns the next message; false when the reading was stopped.
func (mr *messageReader) next() (message, bool) {
	m, ok := <-mr.msgs
	return m, ok
}

// done hands a message's buffer back for reuse; its frame is not used
// after.
func (mr *messageReader) done(m message) { mr.free <- m.buf }

// stop ends the reading and waits for its goroutine.
func (mr *messageReader) stop() {
	mr.cancel()
	<-mr.stopped
}

// Attach opens the session's WebSocket, resuming after offset bytes of
// output.
func (c *Client) Attach(ctx context.Context, sessionID string, offset uint64) (*websocket.Conn, error) {
	return c.attach(ctx, sessionID, offset, false)
}

// Observe opens a read-only live view of the session's WebSocket (the
// ObserveSession permission), from offset bytes of output.
func (c *Client) Observe(ctx context.Context, sessionID string, offset uint64) (*websocket.Conn, error) {
	return c.attach(ctx, sessionID, offset, true)
}

func (c *Client) attach(ctx context.Context, sessionID string, offset uint64, observe bool) (*websocket.Conn, error) {
	path := api.PathSessions + "/" + url.PathEscape(sessionID) + "/stream?offset=" + fmt.Sprint(offset)
	if observe {
		path += "&mode=observe"
	}
	ws, _, err := c.dialWS(ctx, path)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(wire.MaxPayload + wire.HeaderLen)
	return ws, nil
}

// DialForward opens one forwarded TCP connection of a port session: bytes
// written to the connection reach the target port from the node.
func (c *Client) DialForward(ctx context.Context, sessionID string) (net.Conn, error) {
	ws, cork, err := c.dialWS(ctx, api.PathSessions+"/"+url.PathEscape(sessionID)+"/forward")
	if err != nil {
		return nil, err
	}
	// The connection outlives the dial's context; its owner closes it.
	return wire.ForwardConn(context.WithoutCancel(ctx), ws, cork), nil
}

// dialWS opens a WebSocket to path on the server, turning a refusal into
// the server's own message. An expired token is renewed, once. The Corker
// gathers the writes of the connection under the WebSocket's TLS (nil if
// it cannot).
func (c *Client) dialWS(ctx context.Context, path string) (*websocket.Conn, wire.Corker, error) {
	tok := c.bearer()
	ws, cork, err := c.dialWSWith(ctx, path, tok)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized && tok != "" && c.renew(ctx, tok) {
		ws, cork, err = c.dialWSWith(ctx, path, c.bearer())
	}
	return ws, cork, err
}

func (c *Client) dialWSWith(ctx context.Context, path, token string) (*websocket.Conn, wire.Corker, error) {
	u := "wss" + strings.TrimPrefix(c.base, "https") + path
	tc := c.tls.Clone()
	tc.NextProtos = []string{"http/1.1"}
	cd := &wire.BatchDialer{}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment, DialContext: cd.DialContext}}
	hdr := http.Header{}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: hdr, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			if resp.Body != nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
				var e api.Error
				if json.Unmarshal(b, &e) == nil && e.Message != "" {
					return nil, nil, &Error{Status: resp.StatusCode, Code: e.Code, Message: e.Message}
				}
			}
			return nil, nil, &Error{Status: resp.StatusCode, Message: fmt.Sprintf("%s: %s", path, resp.Status)}
		}
		return nil, nil, fmt.Errorf("cannot reach the Postern server at %s: %w", c.base, err)
	}
	return ws, cd.Corker(), nil
}

// DialDesktop attaches to a desktop session as the web console does: a
// WebSocket whose text messages are whole Guacamole instructions (package
// guac). The owner's first attach sends the login instruction; watch is a
// read-only view. The caller owns the connection.
func (c *Client) DialDesktop(ctx context.Context, sessionID string, watch bool) (*websocket.Conn, error) {
	path := api.PathSessions + "/" + url.PathEscape(sessionID) + "/desktop"
	if watch {
		path += "?mode=observe"
	}
	ws, _, err := c.dialWS(ctx, path)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(16 << 20)
	return ws, nil
}
