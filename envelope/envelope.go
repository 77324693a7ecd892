// Package envelope is the format of a session artifact (.log, .cast) that
// leaves Postern encrypted: for S3-compatible stores without KMS, the
// server encrypts what it uploads, and `postern logs decrypt` turns it back
// into the transcript or cast, for whoever the key's policy lets decrypt,
// until the session is deleted (crypto-shredded).
//
// The format, so that an auditor can check it with any AES-GCM tool:
//
//	"PSTNENV1\n"
//	uint32 n            big-endian length of the header
//	header              n bytes of JSON (Header): what the artifact is and
//	                    how to get its key (a data key wrapped by the key
//	                    service, with its encryption context)
//	chunks              each: uint32 len | nonce [12] | AES-256-GCM(plain)
//	                    with len = 12 + len(plain) + 16, plain at most
//	                    ChunkSize bytes, and as associated data
//	                    SHA-256(header) | uint64 index | final byte (1 on
//	                    the last chunk, which may be empty, else 0)
//
// The artifact key is HKDF-SHA256 of the session's data key, salted with
// the session's shred key, info "postern artifact ACCOUNT/SESSION/ARTIFACT":
// the server derives it, so deleting the session's logs makes every copy
// unreadable. A missing last chunk, a chunk moved, altered or added is an
// error, never a shorter plain text.
package envelope

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Magic starts every envelope.
const Magic = "PSTNENV1\n"

// DefaultChunkSize is how much plain text a chunk holds.
const DefaultChunkSize = 64 << 10

const (
	maxHeader = 64 << 10
	maxChunk  = 16 << 20
)

// Header says what an envelope holds and how to get its key.
type Header struct {
	Account    string            `json:"account"`
	SessionID  string            `json:"sessionId"`
	Artifact   string            `json:"artifact"` // "log" or "cast"
	KeyARN     string            `json:"keyArn"`
	WrappedKey []byte            `json:"wrappedKey"`
	Context    map[string]string `json:"context,omitempty"`
	ChunkSize  int               `json:"chunkSize"`
	// Archive is set on an organization's archive copy (package orgs):
	// the organization's id. Its key is derived from the data key alone
	// (info "postern archive ACCOUNT/SESSION/ARTIFACT"), under the
	// archive's key, so deleting the member's session leaves it readable.
	Archive string `json:"archive,omitempty"`
	// DeliveryStream is set on a delivery stream's object (package
	// firehose): the stream's ARN. SessionID is then the object's name
	// and Artifact "logs"; its key is derived from the data key alone
	// (info "postern delivery stream ARN/NAME").
	DeliveryStream string `json:"deliveryStream,omitempty"`
}

// ErrInvalid is an envelope that is malformed, altered, truncated or opened
// with the wrong key.
var ErrInvalid = errors.New("envelope: not a valid envelope, or altered, or not this key")

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return cipher.NewGCM(b)
}

func aad(headerSum []byte, index uint64, final bool) []byte {
	a := binary.BigEndian.AppendUint64(append([]byte(nil), headerSum...), index)
	if final {
		return append(a, 1)
	}
	return append(a, 0)
}

// Writer encrypts into an envelope. Close writes the last chunk; without
// it the envelope is truncated and will not open.
type Writer struct {
	w     io.Writer
	aead  cipher.AEAD
	sum   []byte
	buf   []byte
	size  int
	index uint64
	err   error
}

// NewWriter writes h and returns a Writer that encrypts what is written to
// w with key (32 bytes).
func NewWriter(w io.Writer, h Header, key []byte) (*Writer, error) {
	if h.ChunkSize <= 0 {
		h.ChunkSize = DefaultChunkSize
	}
	if h.ChunkSize > maxChunk {
		return nil, fmt.Errorf("envelope: chunk size %d exceeds %d", h.ChunkSize, maxChunk)
	}
	a, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	sum := sha256.Sum256(hb)
	out := append([]byte(Magic), binary.BigEndian.AppendUint32(nil, uint32(len(hb)))...)
	if _, err := w.Write(append(out, hb...)); err != nil {
		return nil, err
	}
	return &Writer{w: w, aead: a, sum: sum[:], size: h.ChunkSize, buf: make([]byte, 0, h.ChunkSize)}, nil
}

func (w *Writer) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 && w.err == nil {
		k := min(len(p), w.size-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p, n = p[k:], n+k
		if len(w.buf) == w.size && len(p) > 0 {
			w.err = w.flush(false)
		}
	}
	return n, w.err
}

// flush seals the buffered plain text as the next chunk.
func (w *Writer) flush(final bool) error {
	sealed := make([]byte, 4+12, 4+12+len(w.buf)+16)
	rand.Read(sealed[4:16])
	sealed = w.aead.Seal(sealed, sealed[4:16], w.buf, aad(w.sum, w.index, final))
	binary.BigEndian.PutUint32(sealed, uint32(len(sealed)-4))
	w.index++
	w.buf = w.buf[:0]
	_, err := w.w.Write(sealed)
	return err
}

// Close writes the last chunk.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	w.err = w.flush(true)
	if w.err == nil {
		w.err = errors.New("envelope: writer closed")
		return nil
	}
	return w.err
}

// Reader reads an envelope.
type Reader struct {
	r   *bufio.Reader
	h   Header
	sum []byte
}

// NewReader reads an envelope's header from r.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	pre := make([]byte, len(Magic)+4)
	if _, err := io.ReadFull(br, pre); err != nil || string(pre[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w: no envelope header (is this a Postern artifact encrypted at upload?)", ErrInvalid)
	}
	n := binary.BigEndian.Uint32(pre[len(Magic):])
	if n > maxHeader {
		return nil, fmt.Errorf("%w: header of %d bytes", ErrInvalid, n)
	}
	hb := make([]byte, n)
	if _, err := io.ReadFull(br, hb); err != nil {
		return nil, fmt.Errorf("%w: header truncated", ErrInvalid)
	}
	rd := &Reader{r: br}
	if err := json.Unmarshal(hb, &rd.h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrInvalid, err)
	}
	if rd.h.ChunkSize <= 0 || rd.h.ChunkSize > maxChunk {
		return nil, fmt.Errorf("%w: chunk size %d", ErrInvalid, rd.h.ChunkSize)
	}
	sum := sha256.Sum256(hb)
	rd.sum = sum[:]
	return rd, nil
}

// Header is what the envelope says it holds.
func (r *Reader) Header() Header { return r.h }

// Decrypt writes the plain text to w, checking every chunk; it fails on
// anything altered, missing or added. Plain text written before the failure
// is not to be trusted: write to a temporary place.
func (r *Reader) Decrypt(key []byte, w io.Writer) error {
	a, err := newAEAD(key)
	if err != nil {
		return err
	}
	var lenb [4]byte
	var buf, plain []byte
	for index := uint64(0); ; index++ {
		if _, err := io.ReadFull(r.r, lenb[:]); err != nil {
			return fmt.Errorf("%w: truncated after %d chunks", ErrInvalid, index)
		}
		n := int(binary.BigEndian.Uint32(lenb[:]))
		if n < 12+16 || n > 12+r.h.ChunkSize+16 {
			return fmt.Errorf("%w: chunk %d of %d bytes", ErrInvalid, index, n)
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r.r, buf); err != nil {
			return fmt.Errorf("%w: chunk %d truncated", ErrInvalid, index)
		}
		final := false
		plain, err = a.Open(plain[:0], buf[:12], buf[12:], aad(r.sum, index, false))
		if err != nil {
			plain, err = a.Open(plain[:0], buf[:12], buf[12:], aad(r.sum, index, true))
			final = true
		}
		if err != nil {
			return fmt.Errorf("%w: chunk %d fails authentication", ErrInvalid, index)
		}
		if _, err := w.Write(plain); err != nil {
			return err
		}
		if final {
			if _, err := r.r.ReadByte(); err != io.EOF {
				return fmt.Errorf("%w: data after the last chunk", ErrInvalid)
			}
			return nil
		}
	}
}
