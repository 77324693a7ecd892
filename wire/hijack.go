package wire

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
)

// Buffers of a connection handed over by LeanHijack. A WebSocket reads
// frame headers through its reader, and a payload larger than the reader
// goes straight into the caller's buffer, so a small reader costs no
// system call (TLS under it has its own buffer). The writer gathers a
// frame's header with its payload, so a message up to its size leaves as
// one TLS record: keystrokes, acknowledgements, pings and window updates
// do; larger ones take a record more, and those of bulk transfers are
// corked together anyway (see BatchConn).
const (
	leanReadBuffer  = 512
	leanWriteBuffer = 1 << 10
)

// LeanHijack returns w with a Hijack that hands the connection over with
// a 512-byte reader and a 1 KiB writer instead of net/http's 4 KiB each,
// for a WebSocket that lasts long and carries little most of the time: an
// agent's connection, of which one server holds thousands. The WebSocket
// keeps the buffers it is handed for as long as it lives.
func LeanHijack(w http.ResponseWriter) http.ResponseWriter { return leanHijacker{w} }

type leanHijacker struct{ http.ResponseWriter }

// Unwrap lets http.ResponseController reach the writer underneath.
func (w leanHijacker) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w leanHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Bytes the peer sent after its request that the server has already
	// read move to the new reader; the writer has flushed the response.
	var r io.Reader = conn
	n := brw.Reader.Buffered()
	if n > 0 {
		b, _ := brw.Reader.Peek(n)
		r = io.MultiReader(bytes.NewReader(bytes.Clone(b)), conn)
	}
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	br := bufio.NewReaderSize(r, max(leanReadBuffer, n))
	if n > 0 {
		// Into the reader's buffer, where a caller that looks at what
		// is buffered (as coder/websocket does) finds them.
		if _, err := br.Peek(n); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, leanWriteBuffer)), nil
}
