// Package audit chains Postern's audit trail: each record's hash is an
// HMAC-SHA256, under a key derived from the server's root key, of its
// fields and of the previous record's hash. Someone who can write the
// database but does not hold the root key cannot edit, remove or reorder a
// record without Verify noticing, nor forge a replacement chain.
package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/postern/postern/store"
)

// Chain computes and checks the chain's hashes.
type Chain struct {
	key []byte // nil: plain SHA-256 (tests, servers without a key service)
}

// NewChain returns the chain keyed by key.
func NewChain(key []byte) Chain { return Chain{key: key} }

// Link returns r's hash: of its sequence number, its fields and its
// PrevHash, each length-prefixed so that no two records encode alike.
func (c Chain) Link(r store.AuditRecord) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint64(b, uint64(r.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UTC().UnixMicro()))
	for _, f := range []string{r.Account, r.Actor, r.Action, r.Resource, r.Source, r.Result, r.RequestID, r.Detail, string(r.PrevHash)} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(r.Status))
	if c.key == nil {
		sum := sha256.Sum256(b)
		return sum[:]
	}
	m := hmac.New(sha256.New, c.key)
	m.Write(b)
	return m.Sum(nil)
}

// Broken describes the first record where a chain does not hold.
type Broken struct {
	Seq    int64  // the record, or the first missing one
	Reason string // what is wrong
}

func (b *Broken) Error() string { return fmt.Sprintf("audit record %d: %s", b.Seq, b.Reason) }

// ErrBroken matches a *Broken.
var ErrBroken = errors.New("audit: the chain is broken")

func (b *Broken) Is(target error) bool { return target == ErrBroken }

// Verify checks records, the whole trail in sequence order from the first,
// and returns the first place it does not hold: a record altered (its hash
// does not match it), one missing (a gap in the sequence), or out of place
// (its PrevHash is not the previous record's hash).
func (c Chain) Verify(records []store.AuditRecord) error {
	v := c.Verifier()
	for _, r := range records {
		if err := v.Next(r); err != nil {
			return err
		}
	}
	return nil
}

// Verifier checks a trail one record at a time, so that a trail of any
// length is checked in constant memory.
type Verifier struct {
	c    Chain
	n    int64  // records checked
	prev []byte // the last one's hash
}

// Verifier returns a Verifier of a trail from its first record.
func (c Chain) Verifier() *Verifier { return &Verifier{c: c} }

// Next checks the next record, as Verify does.
func (v *Verifier) Next(r store.AuditRecord) error {
	want := v.n + 1
	switch {
	case r.Seq > want:
		return &Broken{Seq: want, Reason: fmt.Sprintf("missing: the trail goes from %d to %d", want-1, r.Seq)}
	case r.Seq < want:
		return &Broken{Seq: r.Seq, Reason: "out of order, or repeated"}
	case !hmac.Equal(r.PrevHash, v.prev):
		return &Broken{Seq: r.Seq, Reason: "does not follow the record before it (removed, reordered or replaced records)"}
	case !hmac.Equal(r.Hash, v.c.Link(r)):
		return &Broken{Seq: r.Seq, Reason: "altered: its contents do not match its hash"}
	}
	v.n, v.prev = want, r.Hash
	return nil
}

// Checked returns how many records checked out, and the last one's hash.
func (v *Verifier) Checked() (int64, []byte) { return v.n, v.prev }

// Time truncates t to what the store keeps, so that a record hashes the
// same when read back.
func Time(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
