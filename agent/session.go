package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/user"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/postern/postern/shell"
	"github.com/postern/postern/wire"
)

// session is one shell the agent runs. Its records (output, echoed input,
// resizes, exit) are numbered from 1 and kept until the server acknowledges
// them, so any attachment can resume from the last acknowledged record.
type session struct {
	id string
	a  *Agent
	// proc is the shell of a terminal session; pipe the command of a
	// session without one (Open.Pipes). Exactly one is set.
	proc  *shell.Process
	pipe  *shell.PipeProcess
	start time.Time
	runAs string
	// limits are the session's preferences; opened is when it started
	// on the limits clock.
	limits wire.Open
	opened time.Time

	mu   sync.Mutex // guards the fields below
	cond *sync.Cond // signals changes of recs, acked, gen and closed
	// recs holds the unacknowledged records in order; recs[0].Seq is
	// acked+1 when recs is not empty.
	recs     []wire.Record
	recBytes int
	nextSeq  uint64
	acked    uint64
	// gen counts attachments; a sender or receiver of an older
	// generation stops.
	gen        int
	attached   bool
	detachedAt time.Time
	exited     bool // the exit record is appended; no more records follow
	termReason string
	closed     bool // removed from the agent; everything is acknowledged
	lastCols   int
	lastRows   int
	// lastActivity is the last input (or output, if it counts) on the
	// limits clock; warned is set once the maximum-duration warning shows.
	lastActivity time.Time
	warned       bool
	// held is set once the output waiting for a server that is away
	// has filled MaxUnacked (and said so in the log); cleared when a
	// server is attached again.
	held bool
	// lines marks where typed lines start and end (wire.RecTyped).
	lines wire.LineMarks

	// Standard input of a session without a terminal: the receiver queues
	// what the server sends (nil for end of file) and stdinWriter writes
	// it, so that a command slow to read its input does not hold up
	// acknowledgements and terminate requests. stdinEOF is set once end
	// of file is queued; gone is closed when the session leaves.
	stdinQ   chan []byte
	stdinEOF bool
	gone     chan struct{}

	// lateMarked is set once the marker of a late hand-over is in recs
	// (guarded by mu; see handOver).
	lateMarked bool
}

// serveStream handles one stream the server opened: the first frame says
// which session to open or resume, or where to forward a connection, and
// carries the server's grant for exactly that (verify.go). Later frames on
// the stream (input, resizes, acknowledgements, terminate) belong to what
// the grant allowed and need none of their own.
func (a *Agent) serveStream(ctx context.Context, st *yamux.Stream) {
	defer st.Close()
	r := wire.NewReader(st)
	w := wire.NewWriter(st)
	f, err := r.Read()
	if err != nil {
		a.logf("agent: stream %d: reading first frame: %v", st.StreamID(), err)
		return
	}
	var s *session
	var from uint64
	switch f.Type {
	case wire.TOpen:
		var o wire.Open
		if err := wire.DecodeJSON(f, &o); err != nil {
			a.logf("agent: stream %d: %v", st.StreamID(), err)
			w.WriteJSON(wire.TOpenResult, wire.OpenResult{Error: err.Error()})
			return
		}
		if err := a.grants.verify(o.Grant, o.Request()); err != nil {
			a.refuse(st, w, wire.TOpen, o.SessionID, err)
			return
		}
		s, err = a.open(ctx, o)
		if err != nil {
			a.logf("agent: session %s: %v", o.SessionID, err)
			w.WriteJSON(wire.TOpenResult, wire.OpenResult{Error: err.Error()})
			return
		}
	case wire.TResume:
		var rs wire.Resume
		if err := wire.DecodeJSON(f, &rs); err != nil {
			a.logf("agent: stream %d: %v", st.StreamID(), err)
			return
		}
		if err := a.grants.verify(rs.Grant, rs.Request()); err != nil {
			a.refuse(st, w, wire.TResume, rs.SessionID, err)
			return
		}
		a.mu.Lock()
		s = a.sessions[rs.SessionID]
		a.mu.Unlock()
		if s != nil && rs.Ended == nil && s.isLate() {
			// The server said the session ended; a plain resume is one
			// that crossed that word on its way, and would take the
			// stream from the hand-over.
			w.WriteJSON(wire.TOpenResult, wire.OpenResult{Error: fmt.Sprintf("session %s has ended; the server is taking its late output", rs.SessionID)})
			return
		}
		if s != nil && rs.Ended != nil && !s.handOver(rs.AckedSeq, *rs.Ended) {
			s = nil // the recording has all of it: nothing is late
		}
		if s == nil {
			w.WriteJSON(wire.TOpenResult, wire.OpenResult{Unknown: true, Error: fmt.Sprintf("session %s is not running on this node", rs.SessionID)})
			return
		}
		from = rs.AckedSeq
	case wire.TForward:
		var fw wire.Forward
		if err := wire.DecodeJSON(f, &fw); err != nil {
			a.logf("agent: stream %d: %v", st.StreamID(), err)
			return
		}
		if err := a.grants.verify(fw.Grant, fw.Request()); err != nil {
			a.refuse(st, w, wire.TForward, fw.SessionID, err)
			return
		}
		a.forward(ctx, st, w, fw)
		return
	default:
		a.logf("agent: stream %d: expected open, resume or forward, got %s; closing the stream", st.StreamID(), f.Type)
		return
	}
	if err := w.WriteJSON(wire.TOpenResult, wire.OpenResult{OK: true, RunAsUser: s.runAs, Pipes: s.pipe != nil}); err != nil {
		return
	}
	s.attach(ctx, st, r, w, from)
}

// refuse answers a request whose grant did not verify. Such a stream may
// come from anything but the server's session logic, so it is logged.
func (a *Agent) refuse(st *yamux.Stream, w *wire.Writer, t wire.Type, sessionID string, err error) {
	a.logf("agent: stream %d: refused %s for session %q: %v", st.StreamID(), t, sessionID, err)
	w.WriteJSON(wire.TOpenResult, wire.OpenResult{Error: err.Error()})
}

// open starts the shell for a new session.
func (a *Agent) open(ctx context.Context, o wire.Open) (*session, error) {
	a.mu.Lock()
	if _, dup := a.sessions[o.SessionID]; dup {
		a.mu.Unlock()
		return nil, fmt.Errorf("session %s already exists on this node", o.SessionID)
	}
	a.mu.Unlock()
	runAs, err := a.runAsUser(ctx, o.RunAs)
	if err != nil {
		return nil, err
	}
	if o.RunAs != "" && !o.AllowRoot {
		// The agent checks too: a server alone cannot grant root.
		if u, err := user.Lookup(runAs); err == nil && shell.IsRoot(u) {
			return nil, fmt.Errorf("we couldn't start the session because the run-as user %s is root, which the session preferences do not allow", runAs)
		}
	}
	env := []string{"POSTERN_SESSION_ID=" + o.SessionID}
	for k, v := range o.Env {
		env = append(env, k+"="+v)
	}
	cols, rows := o.Cols, o.Rows
	if cols <= 0 || rows <= 0 {
		cols, rows = 80, 24
	}
	spec := shell.Spec{
		User: runAs, Command: o.Command, Env: env, Shell: a.cfg.Shell,
		Cols: uint16(cols), Rows: uint16(rows),
		// Command events for the recording (bash; others as they are).
		Integration: true,
	}
	var proc *shell.Process
	var pipe *shell.PipeProcess
	if o.Pipes {
		pipe, err = shell.StartPipes(context.WithoutCancel(ctx), spec)
	} else {
		proc, err = shell.Start(context.WithoutCancel(ctx), spec)
	}
	if err != nil {
		if errors.Is(err, shell.ErrUnknownUser) {
			return nil, fmt.Errorf("we couldn't start the session because the run-as user %s does not exist on this node: create it, or change runAsDefaultUser or the user's runAs attribute", runAs)
		}
		return nil, err
	}
	now := a.cfg.Now()
	s := &session{id: o.SessionID, a: a, proc: proc, pipe: pipe, start: time.Now(), runAs: runAs, lastCols: cols, lastRows: rows,
		limits: o, opened: now, lastActivity: now, gone: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	if pipe != nil {
		s.stdinQ = make(chan []byte, 64)
		go s.stdinWriter()
	} else if len(o.Command) == 0 && o.ShellProfile != "" {
		// As Session Manager does: the profile is typed into the shell,
		// so it runs with the shell's own startup files already read.
		go s.typeProfile(o.ShellProfile)
	}
	a.mu.Lock()
	a.sessions[o.SessionID] = s
	a.mu.Unlock()
	if pipe != nil {
		a.logf("agent: session %s started for %s as %s without a terminal (pid %d)", o.SessionID, o.Owner, runAs, pipe.Pid())
		go s.pumpPipes()
	} else {
		a.logf("agent: session %s started for %s as %s (pid %d)", o.SessionID, o.Owner, runAs, proc.Pid())
		go s.pump()
	}
	go s.watchOrphan()
	if o.IdleTimeout > 0 || o.MaxDuration > 0 {
		go s.enforceLimits()
	}
	return s, nil
}

// runAsUser picks the OS user for a session.
func (a *Agent) runAsUser(ctx context.Context, requested string) (string, error) {
	me, err := user.Current()
	if err != nil {
		return "", fmt.Errorf("cannot determine the agent's user: %w", err)
	}
	name := requested
	if name == "" {
		name = a.cfg.DefaultRunAs
	}
	if name == "" {
		if !shell.Privileged() {
			return me.Username, nil
		}
		name = "ssm-user"
		if _, err := shell.EnsureUser(ctx, name); err != nil {
			return "", fmt.Errorf("create default run-as user %s: %w", name, err)
		}
	}
	return name, nil
}

// append adds a record. Terminal output blocks while too much is
// unacknowledged, so a disconnected or slow server applies backpressure to
// the terminal instead of growing memory without bound. Records made by the
// receiver (echoed input, resizes) never block: the receiver is what reads
// the acknowledgements that would unblock it.
func (s *session) append(kind wire.RecordKind, data []byte, mutate func(*wire.Record)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for (kind == wire.RecOutput || kind == wire.RecStderr) && s.recBytes >= s.a.cfg.MaxUnacked && !s.closed {
		if !s.attached && !s.held {
			// Once per time away: the command is paused until the
			// server is back to take its output.
			s.held = true
			s.a.logf("agent: session %s: %d bytes of output wait for the server, which is away; the command waits for them to be taken", s.id, s.recBytes)
		}
		s.cond.Wait()
	}
	if s.attached {
		s.held = false
	}
	if s.exited {
		return
	}
	s.nextSeq++
	r := wire.Record{Seq: s.nextSeq, Time: time.Since(s.start), Kind: kind, Data: data}
	if mutate != nil {
		mutate(&r)
	}
	if kind == wire.RecExit {
		s.exited = true
	}
	s.recs = append(s.recs, r)
	s.recBytes += len(data) + 32
	s.cond.Broadcast()
}

func (s *session) lastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextSeq
}

// pump copies the terminal's output into records until the shell exits,
// then appends the exit record.
func (s *session) pump() {
	buf := make([]byte, 64<<10)
	for {
		n, err := s.proc.Read(buf)
		// Gather what else is already waiting into the same record: a
		// busy terminal hands out 4 KiB per read, and each record costs
		// the same on its way to the journal and the clients whatever
		// its size. Nothing waits for more output, so keystroke echoes
		// go out at once.
		for err == nil && n > 0 && len(buf)-n >= 4<<10 {
			m, rerr := s.proc.ReadBuffered(buf[n:])
			if m == 0 || rerr != nil {
				break
			}
			n += m
		}
		if n > 0 {
			if s.limits.IdleCountsOutput {
				// Before the output leaves, so that whoever sees it
				// can count on the activity being noted.
				s.touch()
			}
			s.append(wire.RecOutput, append([]byte(nil), buf[:n]...), nil)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.a.logf("agent: session %s: reading terminal: %v", s.id, err)
			}
			break
		}
	}
	s.exit(s.proc.Wait())
}

// pumpPipes copies a command's standard output and error into records
// until both end, then appends the exit record.
func (s *session) pumpPipes() {
	var wg sync.WaitGroup
	copyOut := func(r io.Reader, kind wire.RecordKind) {
		defer wg.Done()
		buf := make([]byte, 64<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				if s.limits.IdleCountsOutput {
					s.touch()
				}
				s.append(kind, append([]byte(nil), buf[:n]...), nil)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					s.a.logf("agent: session %s: reading the command's output: %v", s.id, err)
				}
				return
			}
		}
	}
	wg.Add(2)
	go copyOut(s.pipe.Stdout, wire.RecOutput)
	go copyOut(s.pipe.Stderr, wire.RecStderr)
	wg.Wait()
	s.exit(s.pipe.Wait())
}

// exit appends the exit record, once the output has all been appended.
func (s *session) exit(code int, err error) {
	if err != nil {
		s.a.logf("agent: session %s: wait: %v", s.id, err)
	}
	s.mu.Lock()
	reason := s.termReason
	s.mu.Unlock()
	s.append(wire.RecExit, []byte(reason), func(r *wire.Record) { r.ExitCode = code })
	s.a.logf("agent: session %s exited with code %d", s.id, code)
}

// attach serves one attachment of the server: it sends records after from
// and applies what the server sends, until the stream breaks or a newer
// attachment replaces it.
func (s *session) attach(ctx context.Context, st *yamux.Stream, r *wire.Reader, w *wire.Writer, from uint64) {
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.attached = true
	s.ackLocked(from)
	s.cond.Broadcast()
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		defer close(done)
		s.send(st, gen, from+1)
	}()
	s.receive(r, gen)
	// The stream broke or the server detached: stop the sender.
	s.mu.Lock()
	if s.gen == gen {
		s.gen++
		s.attached = false
		s.detachedAt = time.Now()
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	st.Close()
	<-done
}

// send writes records from seq next on, batching what is ready into one
// stream write.
func (s *session) send(st *yamux.Stream, gen int, next uint64) {
	var buf []byte
	for {
		s.mu.Lock()
		for s.gen == gen && !s.closed && (len(s.recs) == 0 || s.recs[len(s.recs)-1].Seq < next) {
			s.cond.Wait()
		}
		if s.gen != gen || s.closed {
			s.mu.Unlock()
			return
		}
		i := 0
		if len(s.recs) > 0 && next > s.recs[0].Seq {
			i = int(next - s.recs[0].Seq)
		}
		buf = buf[:0]
		for ; i < len(s.recs) && len(buf) < 256<<10; i++ {
			rec := s.recs[i]
			start := len(buf)
			buf = wire.AppendRecord(wire.AppendFrameHeader(buf, wire.TRecord), rec)
			wire.SetFrameLen(buf[start:])
			next = rec.Seq + 1
		}
		s.mu.Unlock()
		if _, err := st.Write(buf); err != nil {
			return
		}
		if cap(buf) > 1<<20 {
			buf = nil
		}
	}
}

// receive applies the server's frames to the session.
func (s *session) receive(r *wire.Reader, gen int) {
	for {
		f, err := r.Read()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, yamux.ErrStreamClosed) && !errors.Is(err, yamux.ErrSessionShutdown) && !errors.Is(err, yamux.ErrConnectionReset) {
				s.a.logf("agent: session %s: %v; closing this attachment", s.id, err)
			}
			return
		}
		s.mu.Lock()
		stale := s.gen != gen
		s.mu.Unlock()
		if stale {
			return
		}
		switch f.Type {
		case wire.TInput:
			s.touch()
			if s.pipe != nil {
				s.queueStdin(append([]byte(nil), f.Payload...))
				continue
			}
			// Decide before writing: input typed while the terminal does
			// not echo (a password prompt) is never recorded. Where lines
			// start and end is, so that the server can read them off the
			// terminal, except at a prompt that reads a line without echo;
			// before writing, so that the marks come before the echo.
			echo, canonical, merr := s.proc.Modes()
			data := append([]byte(nil), f.Payload...)
			if merr == nil && s.limits.TypedMarks && (echo || !canonical) {
				s.mu.Lock()
				marks := s.lines.Append(nil, data)
				s.mu.Unlock()
				if len(marks) > 0 {
					s.append(wire.RecTyped, marks, nil)
				}
			}
			if _, err := s.proc.Write(data); err != nil {
				s.a.logf("agent: session %s: writing input: %v", s.id, err)
				continue
			}
			if merr == nil && echo {
				s.append(wire.RecInput, data, nil)
			}
		case wire.TInputEOF:
			s.touch()
			if s.pipe != nil {
				s.queueStdin(nil)
			}
		case wire.TResize:
			if s.pipe != nil {
				continue // no terminal to resize
			}
			cols, rows, err := wire.ParseResize(f.Payload)
			if err != nil {
				s.a.logf("agent: session %s: %v; ignoring", s.id, err)
				continue
			}
			s.resize(cols, rows)
		case wire.TAck:
			seq, err := wire.ParseSeq(f.Payload)
			if err != nil {
				s.a.logf("agent: session %s: %v; closing this attachment", s.id, err)
				return
			}
			s.mu.Lock()
			s.ackLocked(seq)
			s.mu.Unlock()
		case wire.TTerminate:
			var t wire.Terminate
			_ = wire.DecodeJSON(f, &t)
			s.terminate(t.Reason)
		default:
			s.a.logf("agent: session %s: unexpected %s frame; closing this attachment", s.id, f.Type)
			return
		}
	}
}

func (s *session) resize(cols, rows int) {
	s.mu.Lock()
	same := cols == s.lastCols && rows == s.lastRows
	s.lastCols, s.lastRows = cols, rows
	s.mu.Unlock()
	if same {
		return
	}
	if err := s.proc.Resize(uint16(cols), uint16(rows)); err != nil {
		s.a.logf("agent: session %s: resize: %v", s.id, err)
		return
	}
	s.append(wire.RecResize, nil, func(r *wire.Record) { r.Cols, r.Rows = cols, rows })
}

// ackLocked drops records up to seq. Once the exit record is acknowledged
// the session is complete and leaves the agent.
func (s *session) ackLocked(seq uint64) {
	if seq > s.nextSeq {
		seq = s.nextSeq // never trust an ack beyond what exists
	}
	if seq <= s.acked {
		return
	}
	n := int(seq - s.acked)
	for _, r := range s.recs[:n] {
		s.recBytes -= len(r.Data) + 32
	}
	s.recs = append(s.recs[:0:0], s.recs[n:]...)
	s.acked = seq
	s.cond.Broadcast()
	if s.exited && len(s.recs) == 0 && !s.closed {
		s.closed = true
		go s.remove()
	}
}

func (s *session) remove() {
	s.a.mu.Lock()
	if s.a.sessions[s.id] == s {
		delete(s.a.sessions, s.id)
	}
	s.a.mu.Unlock()
	s.a.logf("agent: session %s closed: the server has all of it", s.id)
	close(s.gone)
	s.closeProc()
}

// closeProc hangs up the shell, or ends the command of a session without
// a terminal.
func (s *session) closeProc() {
	if s.pipe != nil {
		s.pipe.Close()
		return
	}
	s.proc.Close()
}

// queueStdin hands data (nil: end of file) to stdinWriter. Data after end
// of file, and further ends of file (a client resends it after each
// reconnect), are dropped.
func (s *session) queueStdin(data []byte) {
	s.mu.Lock()
	if s.stdinEOF {
		s.mu.Unlock()
		return
	}
	s.stdinEOF = data == nil
	s.mu.Unlock()
	select {
	case s.stdinQ <- data:
	case <-s.gone:
	}
}

// stdinWriter writes the queued input to the command's standard input and
// records it. A command without a terminal has no echo to tell a secret
// from the rest, so everything it is given is recorded: piping a password
// into a recorded session is the user's choice. Input the command no longer
// takes (it closed its input or exited) is neither written nor recorded.
func (s *session) stdinWriter() {
	broken := false
	for {
		var data []byte
		select {
		case data = <-s.stdinQ:
		case <-s.gone:
			return
		}
		if data == nil {
			if err := s.pipe.Stdin.Close(); err != nil {
				s.a.logf("agent: session %s: closing standard input: %v", s.id, err)
			}
			return
		}
		if broken {
			continue
		}
		n, err := s.pipe.Stdin.Write(data)
		if n > 0 {
			s.append(wire.RecInput, data[:n], nil)
		}
		if err != nil {
			broken = true
			s.a.logf("agent: session %s: the command no longer reads its input: %v", s.id, err)
		}
	}
}

// handOver prepares the late hand-over of a session the server has
// already ended (Resume.Ended): the server gave up waiting for this agent,
// so its recording stops at acked and everything held here arrived late.
// The records up to acked are dropped; a marker labelled e.Marker goes
// right after them, and the records held after it are numbered on from
// there, so that the recording's numbering stays the agent's and the
// marker shows where the late part begins. That happens once: a hand-over
// interrupted and taken up again finds the marker in place (sent or not).
// Then the command is ended as the server's terminate would end it, with
// e.Reason as its exit record's reason: the session is over, and output
// made after nobody can see it is not worth keeping the node busy for.
//
// It reports false if the session has nothing left to hand over (the
// server recorded everything, exit included, and only its final
// acknowledgement was lost); the session then leaves the agent.
func (s *session) handOver(acked uint64, e wire.Ended) bool {
	s.mu.Lock()
	s.ackLocked(acked)
	if s.closed {
		s.mu.Unlock()
		return false
	}
	if !s.lateMarked {
		s.lateMarked = true
		// At the time of the first late record, so that the recording's
		// times never go back.
		t := time.Since(s.start)
		if len(s.recs) > 0 {
			t = min(t, s.recs[0].Time)
		}
		m := wire.Record{Seq: s.acked + 1, Time: t, Kind: wire.RecMarker, Data: []byte(e.Marker)}
		for i := range s.recs {
			s.recs[i].Seq++
		}
		s.recs = append([]wire.Record{m}, s.recs...)
		s.nextSeq++
		s.recBytes += len(m.Data) + 32
		s.cond.Broadcast()
	}
	s.mu.Unlock()
	s.a.logf("agent: session %s: the server ended it (%s) while this node was away; handing over what it printed since and ending it", s.id, e.Reason)
	s.terminate(e.Reason)
	return true
}

// isLate reports whether the server has said the session ended (handOver).
func (s *session) isLate() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lateMarked
}

// terminate hangs up the shell; the pump then records the exit.
func (s *session) terminate(reason string) {
	s.mu.Lock()
	if s.termReason == "" {
		s.termReason = reason
	}
	s.mu.Unlock()
	s.closeProc()
}

// watchOrphan ends the session when no server has been attached for
// OrphanTimeout, so a shell the server lost for good does not run forever.
func (s *session) watchOrphan() {
	t := time.NewTicker(min(s.a.cfg.OrphanTimeout/4, time.Minute))
	defer t.Stop()
	for range t.C {
		s.mu.Lock()
		closed, attached, since := s.closed, s.attached, s.detachedAt
		s.mu.Unlock()
		if closed {
			return
		}
		if !attached && !since.IsZero() && time.Since(since) > s.a.cfg.OrphanTimeout {
			s.a.logf("agent: session %s: no server attached for %v; ending it", s.id, s.a.cfg.OrphanTimeout)
			s.terminate("OrphanTimeout")
			return
		}
	}
}

// touch records activity for the idle timeout.
func (s *session) touch() {
	now := s.a.cfg.Now()
	s.mu.Lock()
	s.lastActivity = now
	s.mu.Unlock()
}

// say shows a line on the user's terminal through the recorded output, so
// the recording says why a session ended.
func (s *session) say(msg string) {
	if s.pipe != nil {
		// Not into the command's output, which may be data.
		s.append(wire.RecStderr, []byte("[postern: "+msg+"]\n"), nil)
		return
	}
	s.append(wire.RecOutput, []byte("\r\n[postern: "+msg+"]\r\n"), nil)
}

// enforceLimits ends the session at its idle timeout or maximum duration,
// warning a minute before the latter.
func (s *session) enforceLimits() {
	t := time.NewTicker(s.a.cfg.CheckInterval)
	defer t.Stop()
	lim := s.limits
	for range t.C {
		now := s.a.cfg.Now()
		s.mu.Lock()
		done, last, warned := s.exited || s.closed || s.termReason != "", s.lastActivity, s.warned
		s.mu.Unlock()
		if done {
			return
		}
		if lim.MaxDuration > 0 {
			left := lim.MaxDuration - now.Sub(s.opened)
			if left <= 0 {
				s.say(fmt.Sprintf("the session reached its maximum duration of %v and is ending (maxSessionDuration)", lim.MaxDuration))
				s.terminate("MaxSessionDuration")
				return
			}
			if left <= time.Minute && !warned {
				s.mu.Lock()
				s.warned = true
				s.mu.Unlock()
				s.say(fmt.Sprintf("this session ends in %v: maximum session duration is %v", left.Round(time.Second), lim.MaxDuration))
			}
		}
		if lim.IdleTimeout > 0 && now.Sub(last) >= lim.IdleTimeout {
			s.say(fmt.Sprintf("no input for %v: the session is ending (idleSessionTimeout)", lim.IdleTimeout))
			s.terminate("IdleTimeout")
			return
		}
	}
}

// profileWait is how long typeProfile waits for a line-editing shell to
// take the terminal before it types anyway (a shell without line editing
// never does, and reads the line as the terminal echoed it).
const profileWait = 2 * time.Second

// typeProfile types the preferences' shellProfile into the session's
// shell once the shell reads its first line. Typed earlier, the terminal
// echoes it as type-ahead and then readline or zle draws it again after
// the prompt: the transcript showed the profile twice. So it waits until
// the terminal leaves canonical mode (the line editor took it), or
// profileWait, or the session's end.
func (s *session) typeProfile(profile string) {
	deadline := time.Now().Add(profileWait)
	for time.Now().Before(deadline) {
		_, canonical, err := s.proc.Modes()
		if err != nil || !canonical {
			break
		}
		select {
		case <-s.gone:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
	text := strings.TrimRight(profile, "\n") + "\n"
	if runtime.GOOS == "windows" {
		// A console takes Enter as a carriage return (a line feed is
		// Ctrl-J); a Unix terminal turns it into a newline by itself.
		text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\n", "\r")
	}
	if _, err := s.proc.Write([]byte(text)); err != nil {
		s.a.logf("agent: session %s: shell profile: %v", s.id, err)
	}
}
