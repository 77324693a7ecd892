package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataDirIsPrivate: a running server's databases and their WAL files
// (password and token hashes, shred keys) are its owner's alone, as the
// journals are.
func TestDataDirIsPrivate(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)
	e.mustRun(ctx, "nodes")
	data := filepath.Join(e.dir, "data")
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory: %v, mode %o", err, fi.Mode().Perm())
	}
	seen := 0
	err := filepath.Walk(data, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(fi.Name(), ".db") {
			seen++
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s: mode %o: others may read it", p, fi.Mode().Perm())
			}
		}
		return nil
	})
	if err != nil || seen < 2 {
		t.Fatalf("walk: %v; %d database files", err, seen)
	}
}
