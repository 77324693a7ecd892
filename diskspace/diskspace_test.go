package diskspace_test

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/postern/postern/diskspace"
)

type sqliteErr int

func (e sqliteErr) Error() string { return fmt.Sprintf("sqlite %d", int(e)) }
func (e sqliteErr) Code() int     { return int(e) }

func TestFull(t *testing.T) {
	for _, c := range []struct {
		err  error
		full bool
	}{
		{nil, false},
		{errors.New("no"), false},
		{&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, true},
		{fmt.Errorf("journal: %w", syscall.EDQUOT), true},
		{fmt.Errorf("store: %w", sqliteErr(13)), true},       // SQLITE_FULL
		{fmt.Errorf("store: %w", sqliteErr(13|3<<8)), true},  // an extended SQLITE_FULL
		{fmt.Errorf("store: %w", sqliteErr(10|3<<8)), false}, // SQLITE_IOERR_WRITE
		{syscall.EIO, false},
	} {
		if got := diskspace.Full(c.err); got != c.full {
			t.Errorf("Full(%v) = %v, want %v", c.err, got, c.full)
		}
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 64 << 20: "64.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := diskspace.Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
