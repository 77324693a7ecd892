package agent

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/postern/postern/pki"
	"github.com/postern/postern/wire"
)

// The agent acts only on requests the server signed for this node (see
// wire.SignGrant): a stream that opens, resumes or forwards without a valid
// grant is refused before anything happens, whoever managed to open it.

const (
	// GrantClockSkew is how far the node's clock may be from the server's:
	// a grant is accepted from this long before it was issued until this
	// long after it expired.
	GrantClockSkew = time.Minute
	// MaxGrantLifetime bounds how long a grant may be valid, whatever the
	// server says, so that one that leaks is soon worthless.
	MaxGrantLifetime = 5 * time.Minute
	// maxSeenGrants bounds the replay cache. Only grants with a good
	// signature enter it and they leave when they expire, so reaching it
	// means the server issues grants far faster than any real load; the
	// agent then refuses requests rather than forget what it has seen.
	maxSeenGrants = 1 << 20
)

// errGrant marks a refusal for want of a valid grant.
var errGrant = errors.New("no valid session grant from the server")

// grantVerifier checks grants against the CA the node registered with.
type grantVerifier struct {
	roots  *x509.CertPool
	nodeID string
	now    func() time.Time

	mu sync.Mutex // guards the fields below
	// seen holds the grants used (by nonce) and the sessions opened (by
	// id) until the grant that used them expires, plus the skew: a grant
	// works once, and a session is opened once.
	seen      map[string]time.Time
	lastPrune time.Time
	// signer caches the last signer certificate that verified, as most
	// grants come from the same one.
	signerDER []byte
	signerKey ed25519.PublicKey
	signerEnd time.Time // its NotAfter
	signerBeg time.Time // its NotBefore
}

func newGrantVerifier(roots *x509.CertPool, nodeID string, now func() time.Time) *grantVerifier {
	if now == nil {
		now = time.Now
	}
	return &grantVerifier{roots: roots, nodeID: nodeID, now: now, seen: map[string]time.Time{}}
}

// verify checks that token is a grant the server signed for req on this
// node, valid now and not used before, and marks it used.
func (v *grantVerifier) verify(token []byte, req wire.Request) error {
	if len(token) == 0 {
		return fmt.Errorf("agent: grant: %w: it carries no grant", errGrant)
	}
	g, err := wire.ParseGrant(token)
	if err != nil {
		return fmt.Errorf("agent: grant: %w: %v", errGrant, err)
	}
	now := v.now()
	pub, err := v.signer(g.Signer, now)
	if err != nil {
		return fmt.Errorf("agent: grant: %w: %v", errGrant, err)
	}
	if !ed25519.Verify(pub, g.SignedMessage(), g.Signature) {
		return fmt.Errorf("agent: grant: %w: bad signature", errGrant)
	}
	// Authentic; now it must be for this very request.
	switch {
	case g.NodeID != v.nodeID:
		return fmt.Errorf("agent: grant: %w: it is for node %s, not %s", errGrant, g.NodeID, v.nodeID)
	case g.Kind != req.Kind:
		return fmt.Errorf("agent: grant: %w: it grants a %s, not a %s", errGrant, g.Kind, req.Kind)
	case g.SessionID != req.SessionID:
		return fmt.Errorf("agent: grant: %w: it is for session %s, not %s", errGrant, g.SessionID, req.SessionID)
	case g.Params != req.Params:
		return fmt.Errorf("agent: grant: %w: the request's parameters are not the ones signed", errGrant)
	case g.Expires.Sub(g.IssuedAt) > MaxGrantLifetime:
		return fmt.Errorf("agent: grant: %w: valid for %v, longer than the %v allowed", errGrant, g.Expires.Sub(g.IssuedAt), MaxGrantLifetime)
	case now.Add(GrantClockSkew).Before(g.IssuedAt):
		return fmt.Errorf("agent: grant: %w: issued at %s, in the future of this node's clock (%s): check that the server's and the node's clocks are synchronized",
			errGrant, g.IssuedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case now.After(g.Expires.Add(GrantClockSkew)):
		return fmt.Errorf("agent: grant: %w: expired at %s (node clock %s): a delayed or replayed request, or unsynchronized clocks",
			errGrant, g.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	keys := []string{"nonce:" + hex.EncodeToString(g.Nonce[:])}
	if req.Kind == wire.GrantShell || req.Kind == wire.GrantCommand {
		keys = append(keys, "open:"+req.SessionID)
	}
	return v.use(keys, g.Expires.Add(GrantClockSkew), now)
}

// use marks keys seen until until, refusing if one already is.
func (v *grantVerifier) use(keys []string, until, now time.Time) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if now.Sub(v.lastPrune) > 10*time.Second || len(v.seen) >= maxSeenGrants {
		for k, t := range v.seen {
			if now.After(t) {
				delete(v.seen, k)
			}
		}
		v.lastPrune = now
	}
	for _, k := range keys {
		if t, ok := v.seen[k]; ok && !now.After(t) {
			if k[0] == 'o' {
				return fmt.Errorf("agent: grant: %w: session %s was already opened on this node", errGrant, k[len("open:"):])
			}
			return fmt.Errorf("agent: grant: %w: it was already used (a replay)", errGrant)
		}
	}
	if len(v.seen)+len(keys) > maxSeenGrants {
		return fmt.Errorf("agent: grant: %w: more than %d grants within their lifetime; refusing until some expire", errGrant, maxSeenGrants)
	}
	for _, k := range keys {
		v.seen[k] = until
	}
	return nil
}

// signer returns the key of a session signer certificate issued by the CA.
func (v *grantVerifier) signer(der []byte, now time.Time) (ed25519.PublicKey, error) {
	v.mu.Lock()
	if bytes.Equal(der, v.signerDER) && !now.Before(v.signerBeg) && !now.After(v.signerEnd) {
		k := v.signerKey
		v.mu.Unlock()
		return k, nil
	}
	v.mu.Unlock()
	cert, err := pki.VerifySessionSigner(der, v.roots, now)
	if err != nil {
		return nil, err
	}
	pub := cert.PublicKey.(ed25519.PublicKey)
	v.mu.Lock()
	v.signerDER, v.signerKey = bytes.Clone(der), pub
	v.signerBeg, v.signerEnd = cert.NotBefore, cert.NotAfter
	v.mu.Unlock()
	return pub, nil
}
