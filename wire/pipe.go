package wire

import (
	"io"
	"sync"
)

// pipeBufs are Pipe's copy buffers, 256 KiB each.
var pipeBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// Pipe copies a -> b and b -> a until both directions end, then closes
// both. When one side finishes sending, the other's write side is closed
// (CloseWrite where the connection has it, as TCP does) so protocols that
// half-close still see the end of their input. It returns the bytes copied
// each way.
func Pipe(a, b io.ReadWriteCloser) (aToB, bToA int64) {
	var wg sync.WaitGroup
	wg.Add(2)
	half := func(dst, src io.ReadWriteCloser, n *int64) {
		defer wg.Done()
		// Bigger pieces than io.Copy's 32 KiB: each becomes a yamux frame
		// and a WebSocket message, whose fixed costs dominate bulk
		// transfers. The wrappers keep io.Copy from using ReadFrom or
		// WriteTo, which would pick their own sizes.
		buf := pipeBufs.Get().(*[]byte)
		*n, _ = io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *buf)
		pipeBufs.Put(buf)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
	}
	go half(b, a, &aToB)
	go half(a, b, &bToA)
	wg.Wait()
	a.Close()
	b.Close()
	return aToB, bToA
}
