//go:build unix

package diskspace

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Stat returns the usage of the filesystem that holds dir.
func Stat(dir string) (Usage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return Usage{}, fmt.Errorf("diskspace: statfs %s: %w", dir, err)
	}
	bs := uint64(st.Bsize)
	return Usage{Free: uint64(st.Bavail) * bs, Total: uint64(st.Blocks) * bs}, nil
}

func fullOS(err error) bool { return errors.Is(err, syscall.EDQUOT) }
