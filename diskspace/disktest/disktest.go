//go:build linux

// Package disktest gives tests a small filesystem of their own, to fill up
// on purpose: a tmpfs mounted in the test's temporary directory. Mounting
// needs root (CI runs the tests as root); elsewhere the test is skipped
// with the reason.
package disktest

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/postern/postern/diskspace"
)

// Small mounts a tmpfs of size bytes and returns its directory; it is
// unmounted when the test ends.
func Small(t testing.TB, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a filesystem to fill needs a tmpfs mount, which needs root (CI runs the tests as root)")
	}
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size="+strconv.FormatInt(size, 10)+",mode=0700"); err != nil {
		t.Skipf("mount a %d-byte tmpfs: %v (needs CAP_SYS_ADMIN)", size, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Fill writes a file in dir until the filesystem has at most leave bytes
// free, and returns a function that removes it again.
func Fill(t testing.TB, dir string, leave uint64) (free func()) {
	t.Helper()
	f, err := os.CreateTemp(dir, "filler")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		u, err := diskspace.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if u.Free <= leave {
			break
		}
		n := min(uint64(len(buf)), u.Free-leave)
		if _, err := f.Write(buf[:n]); err != nil {
			break // full; a page's worth can be the last to go
		}
	}
	f.Close()
	return func() {
		t.Helper()
		if err := os.Remove(f.Name()); err != nil {
			t.Fatal(err)
		}
	}
}
