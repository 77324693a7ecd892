package recording

import (
	"encoding/base64"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// bulkOutput is what `cat` of a base64 file looks like through a PTY: 76
// printable characters and CR LF per line, in 4 KiB reads.
func bulkOutput(size int) [][]byte {
	raw := make([]byte, size*3/4)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	var sb strings.Builder
	for len(enc) > 0 {
		n := min(76, len(enc))
		sb.WriteString(enc[:n])
		sb.WriteString("\r\n")
		enc = enc[n:]
	}
	s := []byte(sb.String())
	var chunks [][]byte
	for len(s) > 0 {
		n := min(4096, len(s))
		chunks = append(chunks, s[:n])
		s = s[n:]
	}
	return chunks
}

// shellOutput is colourful interactive output: prompts, ls --color, and
// readline redraws.
func shellOutput(n int) [][]byte {
	line := "\x1b]0;alice@web-1: ~\x07\x1b[01;32malice@web-1\x1b[00m:\x1b[01;34m~\x1b[00m$ ls --color\r\n" +
		"\x1b[0m\x1b[01;34mbin\x1b[0m  \x1b[01;34metc\x1b[0m  notes.txt  \x1b[01;32mrun.sh\x1b[0m  ünïcödé-文件.txt\r\n" +
		"\x1b[K$ echo hello\b\b\b\b\bHELLO\x1b[K\r\n"
	chunks := make([][]byte, n)
	for i := range chunks {
		chunks[i] = []byte(line)
	}
	return chunks
}

func benchRenderer(b *testing.B, chunks [][]byte) {
	var total int64
	for _, c := range chunks {
		total += int64(len(c))
	}
	b.SetBytes(total)
	for b.Loop() {
		t := NewTextRenderer(io.Discard, 80)
		for _, c := range chunks {
			t.Write(c)
		}
		t.Flush()
	}
}

func BenchmarkTextRendererBulk(b *testing.B)  { benchRenderer(b, bulkOutput(8<<20)) }
func BenchmarkTextRendererShell(b *testing.B) { benchRenderer(b, shellOutput(20000)) }

func BenchmarkCastWriterBulk(b *testing.B) {
	chunks := bulkOutput(8 << 20)
	var total int64
	for _, c := range chunks {
		total += int64(len(c))
	}
	b.SetBytes(total)
	for b.Loop() {
		cw, err := NewCastWriter(io.Discard, Meta{SessionID: "bench", Start: time.Unix(0, 0), Width: 80, Height: 24})
		if err != nil {
			b.Fatal(err)
		}
		for i, c := range chunks {
			if err := cw.Write(Record{Seq: uint64(i + 1), Time: time.Duration(i) * time.Microsecond, Kind: KindOutput, Data: c}); err != nil {
				b.Fatal(err)
			}
		}
		cw.Close()
	}
}

// BenchmarkRender renders a journal of bulk output to both artifacts on
// disk, as the server does when a session ends.
func BenchmarkRender(b *testing.B) {
	dir := b.TempDir()
	jpath := dir + "/s.journal"
	j, err := CreateJournal(jpath, Meta{SessionID: "bench", Start: time.Unix(0, 0), Width: 80, Height: 24}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for i, c := range bulkOutput(32 << 20) {
		total += int64(len(c))
		if _, err := j.Append(Record{Seq: uint64(i + 1), Time: time.Duration(i) * time.Microsecond, Kind: KindOutput, Data: c}); err != nil {
			b.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(total)
	for b.Loop() {
		if err := Render(jpath, nil, dir+"/s.cast", dir+"/s.log"); err != nil {
			b.Fatal(err)
		}
	}
}
