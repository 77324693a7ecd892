package stacktemplate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/postern/postern/lazyregexp"
)

// Error is one problem with a template: where it is and what is wrong.
// Parse and Render return every problem they find, each an *Error, joined
// with errors.Join (use errors.As, or Errors, to get them).
type Error struct {
	File   string // the name given to Parse
	Line   int    // 1-based; 0 when the problem is the template as a whole
	Column int    // 1-based; 0 when not known
	// Path is where in the template, the way people write it:
	// Resources.SessionLogs.Properties.RetentionInDays, or
	// Resources.Prefs.Properties.Content.inputs.idleSessionTimeout.
	// Empty when the problem is the template as a whole.
	Path string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors returns the problems err holds, as Parse and Render return them.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if m, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range m.Unwrap() {
				walk(e)
			}
			return
		}
		if e, ok := err.(*Error); ok {
			out = append(out, e)
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// maxErrors is how many problems a report lists: a template with more is
// not worth reading on about, and a hostile one must not make a report of
// megabytes.
const maxErrors = 50

// errList collects the problems with a template rather than stopping at the
// first, so that one round of fixes suffices.
type errList struct {
	file string
	errs []error
	more int // problems past maxErrors
}

func (l *errList) add(line, col int, path, format string, args ...any) {
	if len(l.errs) >= maxErrors {
		l.more++
		return
	}
	l.errs = append(l.errs, &Error{File: l.file, Line: line, Column: col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// at reports a problem with the value n, written at path.
func (l *errList) at(n *node, path, format string, args ...any) {
	line, col := 0, 0
	if n != nil {
		line, col = n.line, n.col
	}
	l.add(line, col, path, format, args...)
}

func (l *errList) err() error {
	if l.more > 0 {
		return errors.Join(append(l.errs, &Error{File: l.file, Msg: fmt.Sprintf("and %d more problems", l.more)})...)
	}
	return errors.Join(l.errs...)
}

func (l *errList) empty() bool { return len(l.errs) == 0 && l.more == 0 }

// Paths name where in a template something is: Resources.Key.Properties,
// KeyPolicy.Statement[0], Content.inputs["odd key"].

var plainKey = lazyregexp.New(`^[A-Za-z0-9_:-]+$`)

func joinKey(path, key string) string {
	if !plainKey.MatchString(key) {
		return fmt.Sprintf("%s[%s]", path, quoteShort(key))
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func joinIndex(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// quoteShort quotes s for an error message, eliding the middle of a long
// value, which would drown the message.
func quoteShort(s string) string {
	const max = 80
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max / 2
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	end := len(s) - max/2
	for end < len(s) && !utf8.RuneStart(s[end]) {
		end++
	}
	return strconv.Quote(s[:cut]) + "…" + strconv.Quote(s[end:])
}
