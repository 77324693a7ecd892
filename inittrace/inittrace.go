// Package inittrace reads what the Go runtime prints about package
// initialization under GODEBUG=inittrace=1, so that tests can hold every
// package's init to a memory budget: work done at init is paid by every
// process that links the package, whether it needs the result or not.
package inittrace

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Init is one package's initialization.
type Init struct {
	Package string
	// Start is when it began, since the program started.
	Start time.Duration
	// Clock is how long it took (wall clock).
	Clock  time.Duration
	Bytes  int64
	Allocs int64
}

// Parse reads the init lines in r, which may hold other output too:
//
//	init github.com/postern/postern/ids @8.1 ms, 0.001 ms clock, 480 bytes, 16 allocs
//
// A line that starts with "init " but is not in that form is an error.
func Parse(r io.Reader) ([]Init, error) {
	var out []Init
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if !strings.HasPrefix(line, "init ") {
			continue
		}
		in, err := parseLine(line)
		if err != nil {
			return out, fmt.Errorf("inittrace: line %d: %q: %w", n, line, err)
		}
		out = append(out, in)
	}
	return out, sc.Err()
}

func parseLine(line string) (Init, error) {
	f := strings.Fields(line)
	// init PKG @S ms, C ms clock, B bytes, A allocs
	if len(f) != 11 || f[0] != "init" || !strings.HasPrefix(f[2], "@") ||
		f[3] != "ms," || f[5] != "ms" || f[6] != "clock," || f[8] != "bytes," || f[10] != "allocs" {
		return Init{}, fmt.Errorf("not in the form: init PACKAGE @N ms, N ms clock, N bytes, N allocs")
	}
	start, err := millis(f[2][1:])
	if err != nil {
		return Init{}, err
	}
	clock, err := millis(f[4])
	if err != nil {
		return Init{}, err
	}
	b, err := strconv.ParseInt(f[7], 10, 64)
	if err != nil || b < 0 {
		return Init{}, fmt.Errorf("bytes %q is not a count", f[7])
	}
	a, err := strconv.ParseInt(f[9], 10, 64)
	if err != nil || a < 0 {
		return Init{}, fmt.Errorf("allocs %q is not a count", f[9])
	}
	return Init{Package: f[1], Start: start, Clock: clock, Bytes: b, Allocs: a}, nil
}

// millis parses the runtime's milliseconds ("8.1", "0.001", "56").
func millis(s string) (time.Duration, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v >= 0 && v <= 1e9) { // NaN too
		return 0, fmt.Errorf("%q is not a number of milliseconds", s)
	}
	return time.Duration(v * float64(time.Millisecond)), nil
}
