// Package backup copies a server's data directory while the server runs,
// consistently, and restores such a copy into a new data directory.
//
// A backup is a directory:
//
//	MANIFEST.json       written last: a backup without it is incomplete
//	postern.db          the metadata, a consistent snapshot (VACUUM INTO)
//	logs.db             the built-in log groups, likewise, if there are any
//	root.key, tls/...   every other file of the data directory as it was
//	sessions/...        (keys, certificates, journals, desktop recordings)
//
// The databases are SQLite in WAL mode: VACUUM INTO reads one transaction's
// view of each while the server goes on writing, so each snapshot is
// whole. The other files are copied after the snapshots, so a journal
// holds at least what the metadata says it does; a journal being written
// is copied up to where it was, which its reader takes as a crashed
// writer's journal (recording.JournalReader stops at a torn frame).
// MANIFEST.json lists every file with its size and SHA-256; Restore checks
// them all before it writes anything.
//
// What is not in the data directory is not in a backup: a PostgreSQL
// database (use pg_dump), object storage, a root key given in the
// environment or kept in AWS KMS.
package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the driver the stores use
)

// ManifestName names a backup's table of contents.
const ManifestName = "MANIFEST.json"

// format is the version of the backup layout.
const format = 1

// databases are the SQLite files of a data directory, snapshot rather
// than copied.
var databases = []string{"postern.db", "logs.db"}

// Manifest describes a backup.
type Manifest struct {
	Format  int       `json:"format"`
	Created time.Time `json:"created"`
	// Version is the version of Postern that made it.
	Version string `json:"version"`
	Files   []File `json:"files"`
	// Excluded are the data directory's files left out on purpose
	// (Options.Exclude), to be put back before the server starts.
	Excluded []string `json:"excluded,omitempty"`
}

// File is one file of a backup, by its slash-separated path in it.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Options are what Create needs besides its directories.
type Options struct {
	Version string           // recorded in the manifest
	Now     func() time.Time // nil: time.Now
	// Exclude names files of the data directory (slash-separated,
	// relative) to leave out: the root key, to keep it apart.
	Exclude []string
}

// ErrNotEmpty is the error for a destination that already holds files.
var ErrNotEmpty = errors.New("backup: the destination is not empty")

// Create writes a backup of the data directory dataDir into dest, which
// must not exist or be empty. The server may be running.
func Create(ctx context.Context, dataDir, dest string, opts Options) (Manifest, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	m := Manifest{Format: format, Created: now().UTC(), Version: opts.Version, Excluded: opts.Exclude}
	if _, err := os.Stat(filepath.Join(dataDir, "postern.db")); err != nil {
		return m, fmt.Errorf("backup: %s is not a server's data directory (no postern.db): %w", dataDir, err)
	}
	if err := emptyDir(dest); err != nil {
		return m, err
	}
	if inside(dest, dataDir) {
		return m, fmt.Errorf("backup: %s is inside the data directory %s: the backup would copy itself", dest, dataDir)
	}
	if err := os.MkdirAll(dest, 0o700); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	for _, name := range databases {
		src := filepath.Join(dataDir, name)
		if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := snapshot(ctx, src, filepath.Join(dest, name)); err != nil {
			return m, err
		}
		f, err := sum(filepath.Join(dest, name))
		if err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
		f.Path = name
		m.Files = append(m.Files, f)
	}
	err := filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != dataDir {
				return nil // gone while walked (a temporary file)
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dataDir, p)
		if d.IsDir() {
			if rel == "." {
				return nil
			}
			return os.MkdirAll(filepath.Join(dest, rel), 0o700)
		}
		if !d.Type().IsRegular() || isDatabaseFile(rel) || slices.Contains(opts.Exclude, filepath.ToSlash(rel)) {
			return nil // sockets, links; the databases are snapshot
		}
		// The manifest sums what was written, as it was written.
		f, err := copyFile(p, filepath.Join(dest, rel))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		f.Path = filepath.ToSlash(rel)
		m.Files = append(m.Files, f)
		return err
	})
	if err != nil {
		return m, fmt.Errorf("backup: copying %s: %w", dataDir, err)
	}
	slices.SortFunc(m.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	b, _ := json.MarshalIndent(m, "", "  ")
	if _, err := writeNew(filepath.Join(dest, ManifestName), bytes.NewReader(append(b, '\n'))); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	return m, nil
}

// inside reports whether p is dir or under it.
func inside(p, dir string) bool {
	ap, err1 := filepath.Abs(p)
	ad, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(ad, ap)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// isDatabaseFile reports whether rel is one of the databases or a file of
// theirs (WAL, shared memory, rollback journal).
func isDatabaseFile(rel string) bool {
	for _, db := range databases {
		if rel == db || rel == db+"-wal" || rel == db+"-shm" || rel == db+"-journal" {
			return true
		}
	}
	return false
}

// snapshot writes a consistent copy of the SQLite database at src to dst.
func snapshot(ctx context.Context, src, dst string) error {
	abs, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	// Not the stores' own open: no migration, nothing written; the
	// server's locks are waited for.
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: abs}).String()+"?_busy_timeout=10000")
	if err != nil {
		return fmt.Errorf("backup: %s: %w", src, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("backup: snapshot of %s: %w", src, err)
	}
	f, err := os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return f.Sync()
}

// Restore checks the backup in src against its manifest and writes it as
// the data directory dataDir, which must not exist or be empty. It writes
// into a directory beside dataDir and renames it into place at the end:
// a restore that fails leaves nothing behind.
func Restore(ctx context.Context, src, dataDir string) (Manifest, error) {
	m, err := Check(src)
	if err != nil {
		return m, err
	}
	if err := emptyDir(dataDir); err != nil {
		return m, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dataDir)), "."+filepath.Base(dataDir)+".restoring-")
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp) // gone once renamed
	for _, f := range m.Files {
		if err := ctx.Err(); err != nil {
			return m, err
		}
		to := filepath.Join(tmp, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
		got, err := copyFile(filepath.Join(src, filepath.FromSlash(f.Path)), to)
		if err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
		// Checked again as copied: the backup may have changed since.
		if got.SHA256 != f.SHA256 || got.Size != f.Size {
			return m, fmt.Errorf("backup: %s changed while it was restored; nothing was restored", f.Path)
		}
	}
	if err := os.Chmod(tmp, 0o700); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	os.Remove(dataDir) // empty, or absent
	if err := os.Rename(tmp, dataDir); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	return m, nil
}

// Check reads src's manifest and verifies every file it lists, and that
// it lists every file there is.
func Check(src string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(src, ManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("backup: %s has no %s: not a backup, or one that did not finish", src, ManifestName)
	}
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("backup: %s: %w", ManifestName, err)
	}
	if m.Format != format {
		return m, fmt.Errorf("backup: %s: format %d; this version of Postern reads format %d", ManifestName, m.Format, format)
	}
	listed := map[string]bool{}
	var problems []error
	for _, f := range m.Files {
		if !fs.ValidPath(f.Path) || f.Path == ManifestName || strings.Contains(f.Path, "\\") {
			return m, fmt.Errorf("backup: %s lists the path %q, which is not one of a backup", ManifestName, f.Path)
		}
		listed[f.Path] = true
		got, err := sum(filepath.Join(src, filepath.FromSlash(f.Path)))
		switch {
		case err != nil:
			problems = append(problems, fmt.Errorf("%s: %w", f.Path, err))
		case got.Size != f.Size || got.SHA256 != f.SHA256:
			problems = append(problems, fmt.Errorf("%s: %d bytes, SHA-256 %s; the manifest says %d bytes, %s", f.Path, got.Size, got.SHA256, f.Size, f.SHA256))
		}
	}
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(src, p)
			if rel = filepath.ToSlash(rel); rel != ManifestName && !listed[rel] {
				problems = append(problems, fmt.Errorf("%s: not in the manifest", rel))
			}
		}
		return nil
	})
	if len(problems) > 0 {
		return m, fmt.Errorf("backup: %s is damaged: %w", src, errors.Join(problems...))
	}
	if !slices.ContainsFunc(m.Files, func(f File) bool { return f.Path == "postern.db" }) {
		return m, fmt.Errorf("backup: %s holds no postern.db", src)
	}
	return m, nil
}

// emptyDir checks that dir does not exist or is an empty directory.
func emptyDir(dir string) error {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil && err != io.EOF {
		return fmt.Errorf("backup: %s: %w", dir, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("%w: %s holds %s; use an empty directory (move the old one aside)", ErrNotEmpty, dir, path.Join(filepath.ToSlash(dir), names[0]))
	}
	return nil
}

// copyFile copies src to a new file dst (0600), synced, and returns
// what it wrote's size and SHA-256.
func copyFile(src, dst string) (File, error) {
	in, err := os.Open(src)
	if err != nil {
		return File{}, err
	}
	defer in.Close()
	return writeNew(dst, in)
}

// writeNew writes r to a new file p (0600), syncs it, and returns the
// size and SHA-256 of what it wrote.
func writeNew(p string, r io.Reader) (File, error) {
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return File{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), r)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return File{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, err
}

// sum returns p's size and SHA-256.
func sum(p string) (File, error) {
	f, err := os.Open(p)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return File{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, err
}
