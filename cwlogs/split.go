package cwlogs

import (
	"bufio"
	"io"
	"unicode/utf8"
)

// splitter turns a transcript into event messages: one per line, without
// the line ending ("\n" or "\r\n"), empty lines dropped, invalid UTF-8 bytes
// replaced by U+FFFD (one per byte utf8.DecodeRune rejects), and lines longer
// than max bytes cut into pieces of at most max bytes, never inside a UTF-8
// character. It holds at most about max bytes plus one read buffer, whatever
// the line lengths, and its output depends only on the bytes read, not on how
// the reader delivers them.
type splitter struct {
	r     *bufio.Reader
	max   int
	cur   []byte   // the current line's valid UTF-8 not yet emitted
	pend  []byte   // an incomplete UTF-8 sequence at the end of the last chunk
	ready []string // messages cut; ready[ri:] not yet returned
	ri    int
	eof   bool
	err   error
}

func newSplitter(r io.Reader, max int) *splitter {
	return &splitter{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next message; ok is false at the end of the transcript.
func (s *splitter) next() (msg string, ok bool, err error) {
	for s.ri == len(s.ready) {
		s.ready, s.ri = s.ready[:0], 0
		if s.err != nil {
			return "", false, s.err
		}
		if s.eof {
			return "", false, nil
		}
		chunk, err := s.r.ReadSlice('\n')
		switch err {
		case bufio.ErrBufferFull:
			s.add(chunk)
			s.cut()
		case nil:
			s.add(chunk[:len(chunk)-1])
			s.endLine()
		case io.EOF:
			s.add(chunk)
			s.endLine()
			s.eof = true
		default:
			s.err = err
		}
	}
	msg = s.ready[s.ri]
	s.ready[s.ri] = ""
	s.ri++
	return msg, true, nil
}

// add appends p to the current line, replacing invalid UTF-8 and keeping an
// incomplete sequence at its end for the next chunk.
func (s *splitter) add(p []byte) {
	if len(s.pend) > 0 {
		p = append(s.pend[:len(s.pend):len(s.pend)], p...)
		s.pend = s.pend[:0]
	}
	for len(p) > 0 {
		i := 0
		for i < len(p) {
			if p[i] < utf8.RuneSelf {
				i++
				continue
			}
			r, size := utf8.DecodeRune(p[i:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			i += size
		}
		s.cur = append(s.cur, p[:i]...)
		p = p[i:]
		if len(p) == 0 {
			return
		}
		if !utf8.FullRune(p) {
			s.pend = append(s.pend, p...) // at most 3 bytes
			return
		}
		s.cur = append(s.cur, "\uFFFD"...)
		p = p[1:]
	}
}

// cut emits max-byte pieces while the line is longer than max. The last byte
// always stays, so a trailing "\r" is still there when the line ends.
func (s *splitter) cut() {
	off := 0
	for len(s.cur)-off > s.max {
		n := s.max
		for n > 0 && !utf8.RuneStart(s.cur[off+n]) {
			n--
		}
		s.ready = append(s.ready, string(s.cur[off:off+n]))
		off += n
	}
	if off > 0 {
		s.cur = append(s.cur[:0], s.cur[off:]...)
	}
}

func (s *splitter) endLine() {
	// No byte follows an incomplete sequence at the end of a line: each of
	// its bytes is an error, as utf8.DecodeRune would decode them.
	for range s.pend {
		s.cur = append(s.cur, "\uFFFD"...)
	}
	s.pend = s.pend[:0]
	if n := len(s.cur); n > 0 && s.cur[n-1] == '\r' {
		s.cur = s.cur[:n-1]
	}
	s.cut()
	if len(s.cur) > 0 {
		s.ready = append(s.ready, string(s.cur))
	}
	s.cur = s.cur[:0]
}
