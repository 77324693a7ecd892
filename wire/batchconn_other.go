//go:build !unix

package wire

import "syscall"

// Reads are not batched here: waiting for data without holding a buffer
// needs a non-blocking read of the socket.
var batchRead func(syscall.RawConn) (*[]byte, int, error)
