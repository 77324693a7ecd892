//go:build linux || darwin

package recording

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// If asciinema 2 is installed, it must accept our casts and print exactly
// the session's output.
func TestAsciinemaCat(t *testing.T) {
	bin, err := exec.LookPath("asciinema")
	if err != nil {
		t.Skip("asciinema not installed")
	}
	version, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("asciinema --version: %v", err)
	}
	if !strings.HasPrefix(string(version), "asciinema 2.") {
		// asciinema 3's cat concatenates casts instead of printing them.
		t.Skipf("test written for asciinema 2, have %s", version)
	}

	recs := []Record{
		{Seq: 1, Time: 10 * time.Millisecond, Kind: KindOutput, Data: []byte("\x1b[1;32msh-5.2$\x1b[0m ")},
		{Seq: 2, Time: 500 * time.Millisecond, Kind: KindInput, Data: []byte("echo h\xc3")},
		{Seq: 3, Time: 501 * time.Millisecond, Kind: KindInput, Data: []byte("\xa9")},
		{Seq: 4, Time: 600 * time.Millisecond, Kind: KindOutput, Data: []byte("echo h\xc3")},
		{Seq: 5, Time: 601 * time.Millisecond, Kind: KindOutput, Data: []byte("\xa9 \"<&>\" 世界\r\n")},
		{Seq: 6, Time: 700 * time.Millisecond, Kind: KindMarker, Data: []byte("cmd")},
		{Seq: 7, Time: 800 * time.Millisecond, Kind: KindResize, Cols: 100, Rows: 30},
		{Seq: 8, Time: 900 * time.Millisecond, Kind: KindOutput, Data: []byte("hé \\ \"<&>\" 世界\r\n\tdone\x07\r\n")},
		{Seq: 9, Time: time.Second, Kind: KindExit},
	}
	path := filepath.Join(t.TempDir(), "s.cast")
	var buf bytes.Buffer
	if err := WriteCast(&buf, testMeta, records(recs)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	// asciinema 2's cat opens /dev/tty to catch ^C, so it needs a
	// controlling terminal; its stdout stays a pipe, so the bytes are
	// not touched by a terminal's output processing.
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "cat", path)
	cmd.Env = append(os.Environ(), "LANG=C.UTF-8", "LC_ALL=C.UTF-8")
	cmd.Stdin = tty
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Run(); err != nil {
		t.Fatalf("asciinema cat: %v\n%s", err, stderr.Bytes())
	}
	var want []byte
	for _, r := range recs {
		if r.Kind == KindOutput {
			want = append(want, r.Data...)
		}
	}
	if got := stdout.Bytes(); !bytes.Equal(got, want) {
		t.Errorf("asciinema cat printed\n%q\nwant\n%q", got, want)
	}
}
