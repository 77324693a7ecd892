package ssmchannel

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/clocktest"
)

// peer is a hand-written plugin, for what the real one (plugin_test.go)
// cannot be made to do on demand: drop an acknowledgement, send out of
// order, send twice, send garbage.
type peer struct {
	t  *testing.T
	ws *websocket.Conn
	in int64 // the peer's next input sequence number
}

// servePeer starts a channel behind an HTTP server and connects a peer.
func servePeer(t *testing.T, opts Options) (*Channel, *peer) {
	t.Helper()
	ch, dial, _ := servePeers(t, opts)
	return ch, dial()
}

// servePeers starts a channel behind an HTTP server; dial connects a
// peer to it, another connection of the same channel each time; served
// receives what each connection's Serve returned.
func servePeers(t *testing.T, opts Options) (ch *Channel, dial func() *peer, served <-chan error) {
	t.Helper()
	opts.Logf = t.Logf
	ch = NewChannel(opts)
	results := make(chan error, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		if _, err := ReadOpen(r.Context(), ws); err != nil {
			t.Errorf("open: %v", err)
			return
		}
		select {
		case results <- ch.Serve(r.Context(), ws):
		default: // nobody is asking
		}
	}))
	t.Cleanup(srv.Close)
	return ch, func() *peer {
		t.Helper()
		ws, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.CloseNow() })
		open, _ := json.Marshal(OpenDataChannel{MessageSchemaVersion: "1.0", RequestID: "r", TokenValue: "t", ClientID: "c", ClientVersion: "1.3.0.0"})
		if err := ws.Write(t.Context(), websocket.MessageText, open); err != nil {
			t.Fatal(err)
		}
		return &peer{t: t, ws: ws}
	}, results
}

// next reads the next message that is not an acknowledgement; acks are
// collected into acks.
func (p *peer) next(acks *[]Ack) Message {
	p.t.Helper()
	for {
		ctx, cancel := context.WithTimeout(p.t.Context(), 30*time.Second)
		_, b, err := p.ws.Read(ctx)
		cancel()
		if err != nil {
			p.t.Fatalf("peer read: %v", err)
		}
		m, err := Unmarshal(b)
		if err != nil {
			p.t.Fatalf("peer got a malformed message: %v", err)
		}
		if m.Type != Acknowledge {
			return m
		}
		var a Ack
		if err := json.Unmarshal(m.Payload, &a); err != nil {
			p.t.Fatal(err)
		}
		*acks = append(*acks, a)
	}
}

func (p *peer) send(m Message) {
	p.t.Helper()
	if err := p.ws.Write(p.t.Context(), websocket.MessageBinary, m.Marshal()); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) ack(m Message) {
	p.t.Helper()
	b, _ := json.Marshal(Ack{Type: m.Type, ID: UUID(m.ID), Seq: m.Seq, Sequential: true})
	p.send(Message{Type: Acknowledge, SchemaVersion: 1, Created: time.Now(), Flags: 3, ID: newID(), Payload: b})
}

func (p *peer) input(seq int64, pt PayloadType, payload string) Message {
	return Message{Type: InputStreamData, SchemaVersion: 1, Created: time.Now(), Seq: seq, ID: newID(), PayloadType: pt, Payload: []byte(payload)}
}

// handshake answers the channel's request as the plugin does.
func (p *peer) handshake() {
	p.t.Helper()
	var acks []Ack
	req := p.next(&acks)
	if req.Seq != 0 || req.PayloadType != PayloadHandshakeRequest || !strings.Contains(string(req.Payload), `"SessionType":"Standard_Stream"`) {
		p.t.Fatalf("first message: seq %d type %d %s", req.Seq, req.PayloadType, req.Payload)
	}
	p.ack(req)
	resp, _ := json.Marshal(HandshakeResponse{ClientVersion: "1.3.0.0", ProcessedClientActions: []ProcessedAction{{ActionType: "SessionType", ActionStatus: 1}}})
	p.send(p.input(p.in, PayloadHandshakeResponse, string(resp)))
	p.in++
	done := p.next(&acks)
	if done.Seq != 1 || done.PayloadType != PayloadHandshakeComplete {
		p.t.Fatalf("second message: seq %d type %d", done.Seq, done.PayloadType)
	}
	p.ack(done)
}

// TestInputInOrderOnce: input that comes out of order, twice, or
// malformed is handed over in order exactly once, and every well-formed
// copy is acknowledged (the plugin resends until it sees one).
func TestInputInOrderOnce(t *testing.T) {
	var mu sync.Mutex
	var got []string
	ch, p := servePeer(t, Options{SessionType: "Standard_Stream", Input: func(pt PayloadType, b []byte) {
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
	}})
	_ = ch
	p.handshake()
	a, b, c := p.input(1, PayloadOutput, "a"), p.input(2, PayloadOutput, "b"), p.input(3, PayloadOutput, "c")
	broken := c.Marshal()
	broken[len(broken)-1] ^= 1
	p.send(c) // early
	if err := p.ws.Write(t.Context(), websocket.MessageBinary, broken); err != nil {
		t.Fatal(err)
	}
	p.send(a)
	p.send(a) // again: its acknowledgement "was lost"
	p.send(b)
	p.send(p.input(4, PayloadSize, `{"cols":80,"rows":24}`))
	p.send(p.input(5, PayloadOutput, "d"))
	var acks []Ack
	for len(acks) < 6 { // c, a, a, b, the size, d: not the broken copy
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		_, raw, err := p.ws.Read(ctx)
		cancel()
		if err != nil {
			t.Fatalf("after %d acknowledgements: %v", len(acks), err)
		}
		m, err := Unmarshal(raw)
		if err != nil || m.Type != Acknowledge {
			t.Fatalf("%+v %v", m, err)
		}
		var ack Ack
		json.Unmarshal(m.Payload, &ack)
		acks = append(acks, ack)
	}
	var seqs []int64
	for _, a := range acks {
		seqs = append(seqs, a.Seq)
	}
	if want := []int64{3, 1, 1, 2, 4, 5}; !equal(seqs, want) {
		t.Errorf("acknowledged %v, want %v", seqs, want)
	}
	// Each is acknowledged before it is handed over: wait for d.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		s := strings.Join(got, "")
		mu.Unlock()
		if s == "abcd" {
			break
		}
		if len(s) >= 4 || time.Now().After(deadline) {
			t.Fatalf("handed over %q, want a, b, c, d once each", s)
		}
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestOutputResentUntilAcknowledged: output the plugin does not
// acknowledge is sent again, the same message, and output waits for the
// handshake to complete.
func TestOutputResentUntilAcknowledged(t *testing.T) {
	ch, p := servePeer(t, Options{SessionType: "Standard_Stream"})
	// Written before the handshake: it must come after it.
	go ch.Write(t.Context(), []byte("early output"))
	p.handshake()
	var acks []Ack
	first := p.next(&acks)
	if first.Seq != 2 || string(first.Payload) != "early output" {
		t.Fatalf("first output: seq %d %q", first.Seq, first.Payload)
	}
	again := p.next(&acks) // not acknowledged: sent again
	if again.Seq != 2 || again.ID != first.ID {
		t.Fatalf("resent: seq %d id %s; want seq 2 id %s", again.Seq, UUID(again.ID), UUID(first.ID))
	}
	p.ack(again)
	if _, err := ch.Write(t.Context(), []byte("next")); err != nil {
		t.Fatal(err)
	}
	if m := p.next(&acks); m.Seq != 3 || string(m.Payload) != "next" {
		t.Fatalf("after the acknowledgement: seq %d %q", m.Seq, m.Payload)
	}
}

// TestReconnectEndsDuplicates: output the plugin took on a connection
// that was cut before its acknowledgement came is sent again on the next
// connection, where the plugin drops it without a word (it acknowledges
// no duplicate); the acknowledgement of a later message ends it, so it is
// not sent again for ever. Output first sent on the new connection waits
// for its own acknowledgement.
func TestReconnectEndsDuplicates(t *testing.T) {
	ch, dial, _ := servePeers(t, Options{SessionType: "Standard_Stream"})
	p := dial()
	p.handshake()
	var acks []Ack
	if _, err := ch.Write(t.Context(), []byte("one")); err != nil {
		t.Fatal(err)
	}
	if m := p.next(&acks); m.Seq != 2 {
		t.Fatalf("first output: seq %d", m.Seq)
	}
	// Taken, but the connection is cut before its acknowledgement.
	p.ws.CloseNow()
	if _, err := ch.Write(t.Context(), []byte("two")); err != nil {
		t.Fatal(err)
	}

	p = dial()
	again := p.next(&acks)
	if again.Seq != 2 || string(again.Payload) != "one" {
		t.Fatalf("first on the new connection: seq %d %q; want 2 again", again.Seq, again.Payload)
	}
	// The plugin drops it (a duplicate) and acknowledges what follows.
	two := p.next(&acks)
	for two.Seq == 2 {
		two = p.next(&acks)
	}
	if two.Seq != 3 || string(two.Payload) != "two" {
		t.Fatalf("then: seq %d %q; want 3", two.Seq, two.Payload)
	}
	p.ack(two)
	waitUnacked(t, ch, nil)

	// On this connection only: no inference.
	ch.Write(t.Context(), []byte("three"))
	ch.Write(t.Context(), []byte("four"))
	for {
		m := p.next(&acks)
		if m.Seq == 5 {
			p.ack(m)
			break
		}
	}
	waitUnacked(t, ch, []int64{4})
}

// waitUnacked waits until the channel's output waiting for an
// acknowledgement is want (by sequence number).
func waitUnacked(t *testing.T, ch *Channel, want []int64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		ch.mu.Lock()
		var got []int64
		for _, p := range ch.unacked {
			got = append(got, p.m.Seq)
		}
		ch.mu.Unlock()
		if equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for acknowledgement: %v; want %v", got, want)
		}
	}
}

// TestGivesUpWithAReason: output the plugin never acknowledges is sent
// again until resendGiveUp has passed; then the plugin is told why the
// channel closes, and Serve says it gave up.
func TestGivesUpWithAReason(t *testing.T) {
	clk := clocktest.New(time.Now())
	ch, dial, served := servePeers(t, Options{SessionType: "Standard_Stream", Now: clk.Now})
	p := dial()
	p.handshake()
	ch.Write(t.Context(), []byte("never acknowledged"))
	var acks []Ack
	if m := p.next(&acks); string(m.Payload) != "never acknowledged" {
		t.Fatalf("output %q", m.Payload)
	}
	clk.Advance(resendGiveUp)
	for {
		m := p.next(&acks)
		if m.Type == OutputStreamData {
			continue // sent again meanwhile
		}
		var cc ChannelClosedPayload
		if m.Type != ChannelClosed || json.Unmarshal(m.Payload, &cc) != nil || !strings.Contains(cc.Output, "unacknowledged for 5m0s") {
			t.Fatalf("%s %s; want channel_closed saying why", m.Type, m.Payload)
		}
		break
	}
	// As the plugin, which exits: the connection's close completes.
	for _, _, err := p.ws.Read(t.Context()); err == nil; _, _, err = p.ws.Read(t.Context()) {
	}
	if err := <-served; !errors.Is(err, ErrGaveUp) {
		t.Errorf("Serve: %v, want ErrGaveUp", err)
	}
}

// TestCloseBeforeConnection: a channel closed before the plugin has
// dialled (a command that ended first) keeps its output and its end for
// the plugin's connection: the output, then channel_closed with why.
func TestCloseBeforeConnection(t *testing.T) {
	ch, dial, _ := servePeers(t, Options{SessionType: "Standard_Stream"})
	if _, err := ch.Write(t.Context(), []byte("said before anyone came")); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { ch.Close(t.Context(), "Success, exit code 3"); close(closed) }()
	p := dial()
	p.handshake()
	var acks []Ack
	m := p.next(&acks)
	if string(m.Payload) != "said before anyone came" {
		t.Fatalf("first output %q", m.Payload)
	}
	p.ack(m)
	m = p.next(&acks)
	var cc ChannelClosedPayload
	if m.Type != ChannelClosed || json.Unmarshal(m.Payload, &cc) != nil || cc.Output != "Success, exit code 3" {
		t.Fatalf("%s %s; want channel_closed with the exit", m.Type, m.Payload)
	}
	for _, _, err := p.ws.Read(t.Context()); err == nil; _, _, err = p.ws.Read(t.Context()) {
	}
	<-closed
}
