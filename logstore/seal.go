package logstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Sealed groups: a group created while the Store has GroupKeys gets a data
// key of its own from the key service, stored wrapped in its row. Its
// events' messages (column sealed, message left empty) and its index
// segments are encrypted with it, AES-256-GCM with a random nonce and the
// group's ID as associated data, so nothing of what sessions printed is on
// disk in plain text. Groups created without keys (by older versions)
// stay in the clear.

// GroupKeys makes and unwraps groups' data keys: the key service, used as
// Postern's log store with the group's KMS key.
type GroupKeys interface {
	// NewGroupKey returns a new data key for the group, wrapped.
	NewGroupKey(ctx context.Context, account, group, kmsKeyID string) ([]byte, error)
	// GroupKey unwraps a group's data key.
	GroupKey(ctx context.Context, account, group, kmsKeyID string, wrapped []byte) ([]byte, error)
}

// ErrSealed is a sealed group read by a Store without GroupKeys.
var ErrSealed = errors.New("logstore: the group is encrypted and this store has no key service")

// errTampered is a sealed message or segment that does not authenticate.
var errTampered = errors.New("logstore: encrypted data fails authentication (altered, or not this group's)")

const sealOverhead = 12 + 16

// sealer returns the AEAD of the group, or nil for a group in the clear.
func (s *Store) sealer(ctx context.Context, q querier, groupID int64) (cipher.AEAD, error) {
	s.sealMu.Lock()
	a, ok := s.sealers[groupID]
	s.sealMu.Unlock()
	if ok {
		return a, nil
	}
	var account, name, kmsKey string
	var wrapped []byte
	err := q.QueryRowContext(ctx, `SELECT account, name, kms_key_id, data_key FROM log_groups WHERE id = ?`, groupID).Scan(&account, &name, &kmsKey, &wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if wrapped != nil {
		if s.keys == nil {
			return nil, fmt.Errorf("group %s: %w", name, ErrSealed)
		}
		dk, err := s.keys.GroupKey(ctx, account, name, kmsKey, wrapped)
		if err != nil {
			return nil, fmt.Errorf("group %s: unwrap its key: %w", name, err)
		}
		b, err := aes.NewCipher(dk)
		if err != nil {
			return nil, err
		}
		if a, err = cipher.NewGCM(b); err != nil {
			return nil, err
		}
	}
	s.sealMu.Lock()
	s.sealers[groupID] = a
	s.sealMu.Unlock()
	return a, nil
}

// forgetSealer drops a group's cached key, when the group goes (its ID may
// be reused).
func (s *Store) forgetSealer(groupID int64) {
	s.sealMu.Lock()
	delete(s.sealers, groupID)
	s.sealMu.Unlock()
}

func sealAAD(kind string, groupID int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("postern/logstore "+kind+" "), uint64(groupID))
}

func seal(a cipher.AEAD, kind string, groupID int64, pt []byte) []byte {
	out := make([]byte, 12, 12+len(pt)+16)
	rand.Read(out) // never fails: see crypto/rand
	return a.Seal(out, out, pt, sealAAD(kind, groupID))
}

func unseal(a cipher.AEAD, kind string, groupID int64, ct []byte) ([]byte, error) {
	return unsealTo(nil, a, kind, groupID, ct)
}

// unsealTo is unseal appending to dst.
func unsealTo(dst []byte, a cipher.AEAD, kind string, groupID int64, ct []byte) ([]byte, error) {
	if len(ct) < sealOverhead {
		return nil, errTampered
	}
	pt, err := a.Open(dst, ct[:12], ct[12:], sealAAD(kind, groupID))
	if err != nil {
		return nil, errTampered
	}
	return pt, nil
}

// messageOf is an event's message: message itself, or sealed opened.
func messageOf(a cipher.AEAD, groupID int64, message string, sealed []byte) (string, error) {
	if sealed == nil {
		return message, nil
	}
	if a == nil {
		return "", ErrSealed
	}
	pt, err := unseal(a, "event", groupID, sealed)
	if err != nil {
		return "", err
	}
	return string(pt), nil
}

// passes reports whether msg holds, for each list of anyOf, one of its
// strings or a backslash: GroupEventsContaining's test, made in Go for
// sealed groups, whose messages SQLite cannot read.
func passes(msg string, anyOf [][]string) bool {
	for _, lits := range anyOf {
		if len(lits) == 0 {
			continue
		}
		ok := strings.IndexByte(msg, '\\') >= 0
		for _, l := range lits {
			if ok {
				break
			}
			ok = strings.Contains(msg, l)
		}
		if !ok {
			return false
		}
	}
	return true
}

// sealSegment seals an encoded segment for a sealed group; a group in the
// clear keeps it as it is.
func sealSegment(a cipher.AEAD, groupID int64, data []byte) []byte {
	if a == nil {
		return data
	}
	return seal(a, "segment", groupID, data)
}
