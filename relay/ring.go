package relay

// outputRing keeps the most recent output of a session, so that attached
// clients, and clients resuming after a short gap, are served from memory.
// It is a circular buffer that grows by doubling up to its limit; a client
// further behind than what it keeps reads the journal instead.
type outputRing struct {
	max   int
	buf   []byte // len(buf) is a power of two, at most max
	start uint64 // output offset of the oldest byte kept
	end   uint64 // output offset just after the newest byte
}

func newOutputRing(max int, offset uint64) outputRing {
	return outputRing{max: max, start: offset, end: offset}
}

// write appends p, dropping the oldest bytes beyond the limit.
func (r *outputRing) write(p []byte) {
	if len(p) >= r.max {
		r.grow(r.max)
		r.start = r.end + uint64(len(p)-r.max)
		r.end += uint64(len(p))
		r.copyIn(r.start, p[len(p)-r.max:])
		return
	}
	if need := int(r.end-r.start) + len(p); need > len(r.buf) {
		r.grow(need)
	}
	r.copyIn(r.end, p)
	r.end += uint64(len(p))
	if kept := r.end - r.start; kept > uint64(len(r.buf)) {
		r.start = r.end - uint64(len(r.buf))
	}
}

// copyIn copies p to where offset off lives in the buffer.
func (r *outputRing) copyIn(off uint64, p []byte) {
	i := int(off % uint64(len(r.buf)))
	n := copy(r.buf[i:], p)
	copy(r.buf, p[n:])
}

// grow enlarges the buffer to hold need bytes, within the limit.
func (r *outputRing) grow(need int) {
	size := max(len(r.buf), 64<<10)
	for size < need && size < r.max {
		size *= 2
	}
	size = min(size, r.max)
	if size <= len(r.buf) {
		return
	}
	nb := make([]byte, size)
	if len(r.buf) > 0 {
		// Keep the kept bytes at their offsets modulo the new size.
		for off := r.start; off < r.end; {
			i := int(off % uint64(len(r.buf)))
			n := min(len(r.buf)-i, int(r.end-off))
			j := int(off % uint64(size))
			m := copy(nb[j:], r.buf[i:i+n])
			copy(nb, r.buf[i+m:i+n])
			off += uint64(n)
		}
	}
	r.buf = nb
}

// appendFrom appends to dst up to n bytes of output starting at offset
// from, which must be within [start, end].
func (r *outputRing) appendFrom(dst []byte, from uint64, n int) []byte {
	n = min(n, int(r.end-from))
	for n > 0 {
		i := int(from % uint64(len(r.buf)))
		m := min(n, len(r.buf)-i)
		dst = append(dst, r.buf[i:i+m]...)
		from += uint64(m)
		n -= m
	}
	return dst
}
