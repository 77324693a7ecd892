//go:build unix

package wire

import (
	"os"
	"syscall"
)

// batchRead reads a batch (BatchConn.Read).
var batchRead = readBatch

// readBatch waits until the socket has data, holding no buffer, then reads
// as much as it holds, up to ReadBatch, into a buffer of readBufs. It
// returns the buffer (nil when nothing was read) and the count.
func readBatch(rc syscall.RawConn) (*[]byte, int, error) {
	var (
		b    *[]byte
		n    int
		serr error
	)
	err := rc.Read(func(fd uintptr) bool {
		b = readBufs.Get().(*[]byte)
		for {
			n, serr = syscall.Read(int(fd), *b)
			if serr != syscall.EINTR {
				break
			}
		}
		if serr == syscall.EAGAIN {
			readBufs.Put(b)
			b = nil
			return false // wait for data, without the buffer
		}
		return true
	})
	if err == nil && serr != nil {
		err = os.NewSyscallError("read", serr)
	}
	if n <= 0 && b != nil {
		readBufs.Put(b)
		b = nil
	}
	return b, n, err
}
