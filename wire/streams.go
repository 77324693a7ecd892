package wire

import (
	"encoding/binary"
	"fmt"
	"io"
)

// A session without a terminal (Open.Pipes) has two output streams, the
// command's standard output and standard error. Clients still see one byte
// stream with offsets (TOutput), so that they resume exactly as terminal
// sessions do; for these sessions that stream is a sequence of chunks, each
//
//	stream uint8 | length uint32 (big-endian) | data
//
// with one chunk per output record. The server produces it with
// AppendStreamChunk, both when a record arrives and when a client behind
// its memory is served from the journal, so offsets always agree; the client
// decodes it with a StreamDemux, which keeps its state across reconnects.

// Stream ids of a session without a terminal, as file descriptor numbers.
const (
	StreamStdout byte = 1
	StreamStderr byte = 2
)

// StreamChunkHeaderLen is the size of a chunk header.
const StreamChunkHeaderLen = 5

// MaxStreamChunk bounds a chunk's data: one record's worth. A longer length
// is malformed.
const MaxStreamChunk = MaxPayload

// AppendStreamChunk appends the chunk that carries data on stream.
func AppendStreamChunk(b []byte, stream byte, data []byte) []byte {
	b = append(b, stream)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// StreamDemux decodes the chunked output of a session without a terminal,
// writing each stream's data to its writer as it arrives, so a chunk split
// across TOutput frames (or across a reconnect) needs no buffering. It is an
// io.Writer for the bytes of the TOutput frames, in order.
type StreamDemux struct {
	Stdout, Stderr io.Writer

	hdr    [StreamChunkHeaderLen]byte
	hdrN   int    // bytes of hdr filled
	stream byte   // of the chunk being read, when hdrN is full
	left   uint32 // data bytes of that chunk still to come
	err    error  // sticky: the stream is malformed
}

// Write decodes p. It returns the number of bytes consumed and an error if
// p is malformed (an unknown stream or an oversized chunk; after that every
// Write fails) or a stream's writer failed.
func (d *StreamDemux) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n := 0
	for n < len(p) {
		if d.hdrN < StreamChunkHeaderLen {
			c := copy(d.hdr[d.hdrN:], p[n:])
			d.hdrN += c
			n += c
			if d.hdrN < StreamChunkHeaderLen {
				break
			}
			d.stream = d.hdr[0]
			d.left = binary.BigEndian.Uint32(d.hdr[1:])
			if d.stream != StreamStdout && d.stream != StreamStderr {
				d.err = fmt.Errorf("wire: %w: output chunk for unknown stream %d", ErrMalformed, d.stream)
				return n, d.err
			}
			if d.left > MaxStreamChunk {
				d.err = fmt.Errorf("wire: %w: output chunk of %d bytes exceeds the %d-byte limit", ErrMalformed, d.left, MaxStreamChunk)
				return n, d.err
			}
			if d.left == 0 {
				d.hdrN = 0
			}
			continue
		}
		m := min(uint32(len(p)-n), d.left)
		w := d.Stdout
		if d.stream == StreamStderr {
			w = d.Stderr
		}
		if m > 0 && w != nil {
			if _, err := w.Write(p[n : n+int(m)]); err != nil {
				return n, err
			}
		}
		n += int(m)
		d.left -= m
		if d.left == 0 {
			d.hdrN = 0
		}
	}
	return n, nil
}

// Partial reports whether the bytes written so far end inside a chunk.
func (d *StreamDemux) Partial() bool { return d.hdrN > 0 }
