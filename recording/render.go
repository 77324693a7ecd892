package recording

import (
	"bufio"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// RenderJournal reads the journal at path and writes the session's
// asciicast to cast and its transcript to log, in one pass; either writer
// may be nil. The journal may have a torn tail: what precedes it is
// rendered.
//
// The session's end is Meta.Start plus the time of its last record, and
// its exit code that of its KindExit record, or ExitUnknown if it has none
// (the agent was lost before the session ended).
func RenderJournal(path string, key cipher.AEAD, cast, log io.Writer) error {
	jr, err := ReadJournal(path, key)
	if err != nil {
		return err
	}
	defer jr.Close()
	m := jr.Meta()

	var cw *CastWriter
	if cast != nil {
		if cw, err = NewCastWriter(cast, m); err != nil {
			return err
		}
	}
	var tw *TranscriptWriter
	if log != nil {
		if tw, err = NewTranscriptWriter(log, m); err != nil {
			return err
		}
	}
	var last time.Duration
	exitCode := ExitUnknown
	for r, err := range jr.All() {
		if err != nil {
			return fmt.Errorf("recording: render %s: %w", path, err)
		}
		last = max(last, r.Time)
		if r.Kind == KindExit {
			exitCode = r.ExitCode
		}
		if cw != nil {
			if err := cw.Write(r); err != nil {
				return err
			}
		}
		if tw != nil {
			if err := tw.Write(r); err != nil {
				return err
			}
		}
	}
	if cw != nil {
		if err := cw.Close(); err != nil {
			return err
		}
	}
	if tw != nil {
		if err := tw.Finish(m.Start.Add(last), exitCode); err != nil {
			return err
		}
	}
	return nil
}

// Render renders the journal at journalPath into an asciicast at castPath
// and a transcript at logPath; an empty path skips that artifact. Each file
// is written under a temporary name, synced and renamed into place with
// mode 0600, so a reader never sees a partial artifact and a crash leaves
// either the old file or the new one. Nothing is renamed until both
// artifacts are complete.
func Render(journalPath string, key cipher.AEAD, castPath, logPath string) (err error) {
	var cast, log *atomicFile
	defer func() {
		// After a successful commit these are no-ops.
		cast.abort()
		log.abort()
	}()
	if castPath != "" {
		if cast, err = newAtomicFile(castPath); err != nil {
			return err
		}
	}
	if logPath != "" {
		if log, err = newAtomicFile(logPath); err != nil {
			return err
		}
	}
	if err := RenderJournal(journalPath, key, cast.writer(), log.writer()); err != nil {
		return err
	}
	if err := cast.finish(); err != nil {
		return err
	}
	if err := log.finish(); err != nil {
		return err
	}
	if err := cast.commit(); err != nil {
		return err
	}
	return log.commit()
}

// atomicFile is a file written under a temporary name in its final
// directory and renamed into place once complete. Its methods accept a nil
// receiver, which stands for an artifact not asked for.
type atomicFile struct {
	path string
	f    *os.File
	bw   *bufio.Writer
	done bool
}

func newAtomicFile(path string) (*atomicFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("recording: create %s: %w", path, err)
	}
	// CreateTemp's mode is 0600 already; say so in case that changes,
	// because transcripts hold whatever was on the user's screen.
	if err := f.Chmod(0o600); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("recording: create %s: %w", path, err)
	}
	return &atomicFile{path: path, f: f, bw: bufio.NewWriterSize(f, 64<<10)}, nil
}

// writer returns where to write the contents, or nil for a nil a.
func (a *atomicFile) writer() io.Writer {
	if a == nil {
		return nil
	}
	return a.bw
}

// finish flushes, syncs and closes the temporary file.
func (a *atomicFile) finish() error {
	if a == nil {
		return nil
	}
	if err := a.bw.Flush(); err != nil {
		return fmt.Errorf("recording: write %s: %w", a.path, err)
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("recording: sync %s: %w", a.path, err)
	}
	if err := a.f.Close(); err != nil {
		return fmt.Errorf("recording: close %s: %w", a.path, err)
	}
	return nil
}

// commit renames the finished file into place.
func (a *atomicFile) commit() error {
	if a == nil {
		return nil
	}
	if err := os.Rename(a.f.Name(), a.path); err != nil {
		return fmt.Errorf("recording: rename %s: %w", a.path, err)
	}
	a.done = true
	if err := syncDir(filepath.Dir(a.path)); err != nil {
		return fmt.Errorf("recording: %s: %w", a.path, err)
	}
	return nil
}

// abort removes the temporary file unless it was committed.
func (a *atomicFile) abort() {
	if a == nil || a.done {
		return
	}
	a.f.Close()
	os.Remove(a.f.Name())
}
