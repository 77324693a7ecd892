package wire

import (
	"io"
	"sync"
)

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
		*n, _ = io.Copy(dst, src)
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
