package wire

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"slices"
	"time"
)

// A session grant is the server's signed statement that one request on an
// agent stream (the first frame: Open, Resume or Forward) passed its checks:
// this node, this session, exactly these parameters, for a short while. The
// agent acts on nothing else, so neither a stolen user token nor anything
// else that reaches an agent connection without the server's session logic
// can start, resume or forward a session on its own.
//
// The server signs with its session-signing key (Ed25519), whose certificate,
// issued by the server's CA, travels in the grant; the agent checks it
// against the CA it trusted at registration. What is signed is a fixed
// binary encoding, never JSON, so both sides hash the same bytes:
//
//	version  uint8 (1)
//	kind     uint8 (GrantKind)
//	node     uint8 length | bytes
//	session  uint8 length | bytes
//	params   [32]byte: SHA-256 of the request's parameters (Request.Params)
//	nonce    [16]byte
//	issued   int64 big-endian, Unix milliseconds
//	expires  int64 big-endian, Unix milliseconds
//
// The token that travels in the request's "grant" field is that body, the
// 64-byte signature over GrantSigningContext followed by the body, and the
// signer's certificate:
//
//	body | signature [64]byte | cert uint16 length | cert DER

// GrantKind says what a grant lets the server ask of an agent. Values are
// part of the protocol: never renumber.
type GrantKind uint8

// Grant kinds.
const (
	GrantShell   GrantKind = 1 // TOpen of a login shell (Open.Command empty)
	GrantCommand GrantKind = 2 // TOpen of a command, with a terminal or without one
	GrantResume  GrantKind = 3 // TResume of a session the agent runs
	GrantForward GrantKind = 4 // TForward: one connection of a port session
)

func (k GrantKind) String() string {
	switch k {
	case GrantShell:
		return "shell"
	case GrantCommand:
		return "command"
	case GrantResume:
		return "resume"
	case GrantForward:
		return "port forward"
	}
	return fmt.Sprintf("grant-kind(%d)", uint8(k))
}

// GrantSigningContext prefixes the body in the signed message, so a grant
// signature can never be mistaken for a signature over anything else.
const GrantSigningContext = "postern session grant v1\x00"

const (
	grantVersion = 1
	// GrantSignatureSize is the size of an Ed25519 signature.
	GrantSignatureSize = 64
	// MaxGrantIDLen bounds node and session ids in a grant.
	MaxGrantIDLen = 255
	// MaxGrantCert bounds the signer's certificate: an Ed25519 certificate
	// is a few hundred bytes, and the limit bounds what a peer can make the
	// agent parse.
	MaxGrantCert = 8 << 10
	// grantFixedLen is version, kind, the two id lengths, params, nonce
	// and the two times.
	grantFixedLen = 1 + 1 + 1 + 1 + 32 + 16 + 8 + 8
)

// Request is what a grant binds a first frame to: its kind, its session,
// and the hash of every parameter the agent acts on.
type Request struct {
	Kind      GrantKind
	SessionID string
	Params    [32]byte
}

// Grant is a decoded session grant.
type Grant struct {
	Request
	NodeID string
	// Nonce makes every grant unique, so an agent can refuse one it has
	// seen.
	Nonce    [16]byte
	IssuedAt time.Time // millisecond resolution
	Expires  time.Time
	// Signature is Ed25519 over GrantSigningContext and the body; Signer
	// is the DER certificate of the key that made it.
	Signature []byte
	Signer    []byte
}

// ErrBadGrant wraps every reason ParseGrant refuses a token.
var ErrBadGrant = errors.New("malformed session grant")

// Body returns the encoding of the signed fields.
func (g *Grant) Body() []byte {
	b := make([]byte, 0, grantFixedLen+len(g.NodeID)+len(g.SessionID))
	b = append(b, grantVersion, byte(g.Kind))
	b = append(b, byte(len(g.NodeID)))
	b = append(b, g.NodeID...)
	b = append(b, byte(len(g.SessionID)))
	b = append(b, g.SessionID...)
	b = append(b, g.Params[:]...)
	b = append(b, g.Nonce[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(g.IssuedAt.UnixMilli()))
	b = binary.BigEndian.AppendUint64(b, uint64(g.Expires.UnixMilli()))
	return b
}

// SignedMessage is what the signature covers.
func (g *Grant) SignedMessage() []byte {
	return append([]byte(GrantSigningContext), g.Body()...)
}

// Marshal returns the token that travels in a request.
func (g *Grant) Marshal() []byte {
	b := g.Body()
	b = append(b, g.Signature...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(g.Signer)))
	return append(b, g.Signer...)
}

// ParseGrant decodes a token. It checks the encoding only: the caller
// verifies the signature, the signer and what the grant says. Signature and
// Signer alias b.
func ParseGrant(b []byte) (*Grant, error) {
	bad := func(format string, args ...any) (*Grant, error) {
		return nil, fmt.Errorf("wire: %w: %s", ErrBadGrant, fmt.Sprintf(format, args...))
	}
	if len(b) < grantFixedLen {
		return bad("%d bytes is shorter than any grant", len(b))
	}
	if b[0] != grantVersion {
		return bad("version %d, want %d", b[0], grantVersion)
	}
	g := &Grant{}
	g.Kind = GrantKind(b[1])
	switch g.Kind {
	case GrantShell, GrantCommand, GrantResume, GrantForward:
	default:
		return bad("unknown kind %d", b[1])
	}
	p := b[2:]
	readID := func() (string, bool) {
		if len(p) < 1 || len(p) < 1+int(p[0]) {
			return "", false
		}
		n := int(p[0])
		s := string(p[1 : 1+n])
		p = p[1+n:]
		return s, n > 0
	}
	var ok bool
	if g.NodeID, ok = readID(); !ok {
		return bad("missing or truncated node id")
	}
	if g.SessionID, ok = readID(); !ok {
		return bad("missing or truncated session id")
	}
	const rest = 32 + 16 + 8 + 8 + GrantSignatureSize + 2
	if len(p) < rest {
		return bad("truncated after the session id")
	}
	copy(g.Params[:], p)
	copy(g.Nonce[:], p[32:])
	g.IssuedAt = time.UnixMilli(int64(binary.BigEndian.Uint64(p[48:])))
	g.Expires = time.UnixMilli(int64(binary.BigEndian.Uint64(p[56:])))
	g.Signature = p[64 : 64+GrantSignatureSize : 64+GrantSignatureSize]
	p = p[64+GrantSignatureSize:]
	n := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	switch {
	case n == 0:
		return bad("no signer certificate")
	case n > MaxGrantCert:
		return bad("signer certificate of %d bytes exceeds the %d-byte limit", n, MaxGrantCert)
	case len(p) != n:
		return bad("signer certificate of %d bytes, %d follow", n, len(p))
	}
	g.Signer = p[:n:n]
	if !g.Expires.After(g.IssuedAt) {
		return bad("expires (%v) is not after issued (%v)", g.Expires.UTC(), g.IssuedAt.UTC())
	}
	return g, nil
}

// SignGrant makes the token for req on node nodeID, valid from issued for
// ttl, with a fresh nonce. sign returns a signature over its message and
// the signer's DER certificate.
func SignGrant(req Request, nodeID string, issued time.Time, ttl time.Duration, sign func(msg []byte) (sig, cert []byte, err error)) ([]byte, error) {
	switch {
	case nodeID == "" || len(nodeID) > MaxGrantIDLen:
		return nil, fmt.Errorf("wire: grant: node id of %d bytes", len(nodeID))
	case req.SessionID == "" || len(req.SessionID) > MaxGrantIDLen:
		return nil, fmt.Errorf("wire: grant: session id of %d bytes", len(req.SessionID))
	case ttl < time.Millisecond:
		return nil, fmt.Errorf("wire: grant: lifetime %v", ttl)
	}
	g := &Grant{Request: req, NodeID: nodeID, IssuedAt: issued.Truncate(time.Millisecond)}
	g.Expires = g.IssuedAt.Add(ttl.Truncate(time.Millisecond))
	rand.Read(g.Nonce[:]) // never fails (crypto/rand)
	sig, cert, err := sign(g.SignedMessage())
	if err != nil {
		return nil, fmt.Errorf("wire: grant: %w", err)
	}
	if len(sig) != GrantSignatureSize {
		return nil, fmt.Errorf("wire: grant: signature of %d bytes, want %d", len(sig), GrantSignatureSize)
	}
	if len(cert) == 0 || len(cert) > MaxGrantCert {
		return nil, fmt.Errorf("wire: grant: signer certificate of %d bytes", len(cert))
	}
	g.Signature, g.Signer = sig, cert
	return g.Marshal(), nil
}

// Request returns what a grant for o must say. Every field but Grant is
// hashed, so the agent acts on nothing the server did not sign.
func (o Open) Request() Request {
	h := newParamHash("postern open v1")
	h.str(o.SessionID)
	h.str(o.Owner)
	h.str(o.RunAs)
	h.u64(uint64(len(o.Command)))
	for _, c := range o.Command {
		h.str(c)
	}
	keys := make([]string, 0, len(o.Env))
	for k := range o.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a map's order is random; the hash must not be
	h.u64(uint64(len(keys)))
	for _, k := range keys {
		h.str(k)
		h.str(o.Env[k])
	}
	h.u64(uint64(int64(o.Cols)))
	h.u64(uint64(int64(o.Rows)))
	h.u64(uint64(o.IdleTimeout))
	h.flag(o.IdleCountsOutput)
	h.u64(uint64(o.MaxDuration))
	h.flag(o.AllowRoot)
	h.str(o.ShellProfile)
	h.flag(o.Pipes)
	if o.TypedMarks {
		// Only when set, so that an Open without it hashes as it did
		// before the field, for agents that do not know it.
		h.flag(true)
	}
	kind := GrantShell
	if len(o.Command) > 0 {
		kind = GrantCommand
	}
	return Request{Kind: kind, SessionID: o.SessionID, Params: h.sum()}
}

// Request returns what a grant for r must say: a resume is bound to the
// records it lets the agent drop and, for a late hand-over, to the end it
// announces. A resume without Ended hashes as it always did, so an agent
// that predates Ended verifies it, and refuses one with Ended (whose field
// it would not see) instead of resuming a session it should end.
func (r Resume) Request() Request {
	h := newParamHash("postern resume v1")
	h.str(r.SessionID)
	h.u64(r.AckedSeq)
	if r.Ended != nil {
		h.flag(true)
		h.str(r.Ended.Reason)
		h.str(r.Ended.Marker)
	}
	return Request{Kind: GrantResume, SessionID: r.SessionID, Params: h.sum()}
}

// Request returns what a grant for f must say.
func (f Forward) Request() Request {
	h := newParamHash("postern forward v1")
	h.str(f.SessionID)
	h.str(f.Host)
	h.u64(uint64(int64(f.Port)))
	h.flag(f.AllowLinkLocal)
	return Request{Kind: GrantForward, SessionID: f.SessionID, Params: h.sum()}
}

// paramHash hashes parameters in a fixed, unambiguous encoding: a domain,
// then each field length-prefixed or of fixed size, in a fixed order.
type paramHash struct{ h hash.Hash }

func newParamHash(domain string) paramHash {
	p := paramHash{sha256.New()}
	p.str(domain)
	return p
}

func (p paramHash) str(s string) {
	p.u64(uint64(len(s)))
	p.h.Write([]byte(s))
}

func (p paramHash) u64(v uint64) { p.h.Write(binary.BigEndian.AppendUint64(nil, v)) }

func (p paramHash) flag(b bool) {
	if b {
		p.h.Write([]byte{1})
	} else {
		p.h.Write([]byte{0})
	}
}

func (p paramHash) sum() (out [32]byte) {
	p.h.Sum(out[:0])
	return out
}
