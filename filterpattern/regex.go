package filterpattern

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
)

// The regular expression dialect of filter patterns, from "Supported
// regular expressions (regex) syntax": "Filter patterns with regex can
// only include" alphanumeric characters, the symbols : _ # = @ / ; , -
// and the operators ^ $ ? [ ] { } | \ * + . — "The ( and ) operators are
// not supported" and "Multi-byte characters are not supported". The
// docs' own examples also use a space (%^starting|^initializing|^shutting
// down%), so a space is allowed too.
const (
	regexSymbols   = ":_#=@/;,-"
	regexOperators = `^$?[]{}|\*+.`
	// Escapes with a letter that the docs describe (\d \D \s \S \w \W,
	// and \xhh below), plus the whitespace escapes they mention in passing
	// ("Whitespace characters include the tab (\t), space, and newline
	// (\n)").
	regexLetterEscapes = "dDsSwWtnrfv"
)

// maxRegexInsts bounds the size of a compiled expression. Go's regexp
// runs in time linear in the message, but the factor is up to the size of
// the program: %x{1000}x{1000}...% takes tens of seconds on a 256 KB
// event, and even %.{990}y%, at this limit, takes seconds. AWS documents
// no such limit; this one admits every example in the docs, ordinary
// patterns such as [0-9a-f]{64}, and a single {1000}, Go's largest
// repetition.
const maxRegexInsts = 1024

var tooComplex = fmt.Sprintf("regular expression is too complex: matching it could take more than %d steps per character of a message", maxRegexInsts)

func regexAllowed(c byte) bool {
	return isAlnum(c) || c == ' ' || strings.IndexByte(regexSymbols, c) >= 0 || strings.IndexByte(regexOperators, c) >= 0
}

// compileRegex checks src against the dialect and compiles it. On error
// it returns the offset in src of the problem and a message.
func compileRegex(src string) (re *regexp.Regexp, off int, msg string) {
	var b strings.Builder
	// "." "Matches any single character": log events can span lines.
	b.WriteString("(?s)")
	inClass := false
	// Without parentheses a repetition applies to one character or class,
	// so the repetition counts add up to about the program's size; adding
	// them up here rejects a huge expression before Go expands it.
	size := 0
	for i := 0; i < len(src); {
		c := src[i]
		if c >= 0x80 {
			return nil, i, "multi-byte characters are not supported in regular expressions"
		}
		if !regexAllowed(c) {
			if c == '(' || c == ')' {
				return nil, i, "parentheses are not supported in regular expressions; use \\x28 and \\x29 to match them"
			}
			return nil, i, fmt.Sprintf("%q is not supported in regular expressions; use \\x%02X to match it", c, c)
		}
		switch {
		case c == '\\':
			if i+1 == len(src) {
				return nil, i, "trailing backslash in regular expression"
			}
			d := src[i+1]
			switch {
			case d == 'x':
				if i+3 < len(src) && isHex(src[i+2]) && isHex(src[i+3]) {
					b.WriteString(src[i : i+4])
					i += 4
					continue
				}
				return nil, i, `"\x" must be followed by two hexadecimal digits`
			case strings.IndexByte(regexLetterEscapes, d) >= 0:
			case d >= 0x80:
				return nil, i + 1, "multi-byte characters are not supported in regular expressions"
			case isAlnum(d):
				return nil, i, fmt.Sprintf(`unsupported escape "\%c" in regular expression`, d)
			case !regexAllowed(d):
				// \( is still a parenthesis; the docs offer \x28.
				if d == '(' || d == ')' {
					return nil, i + 1, "parentheses are not supported in regular expressions; use \\x28 and \\x29 to match them"
				}
				return nil, i + 1, fmt.Sprintf("%q is not supported in regular expressions; use \\x%02X to match it", d, d)
			}
			// Every allowed non-alphanumeric byte is punctuation or a
			// space, which Go's syntax takes literally after a backslash.
			b.WriteString(src[i : i+2])
			i += 2
		case inClass:
			if c == ']' {
				inClass = false
			}
			b.WriteByte(c)
			i++
		case c == '[':
			inClass = true
			b.WriteByte(c)
			i++
			// A ^ negates; a ] right after [ or [^ is a literal.
			if i < len(src) && src[i] == '^' {
				b.WriteByte('^')
				i++
			}
			if i < len(src) && src[i] == ']' {
				b.WriteByte(']')
				i++
			}
		case c == '{':
			n, rep, count, ok := repetition(src[i:])
			if !ok {
				return nil, i, `"{" must start a repetition such as {2}, {2,5}, {2,} or {,5}; use \{ to match it`
			}
			if size += count; size > maxRegexInsts {
				return nil, i, tooComplex
			}
			b.WriteString(rep)
			i += n
		case c == '}':
			return nil, i, `unmatched "}" in regular expression; use \} to match it`
		default:
			b.WriteByte(c)
			i++
		}
	}
	invalid := func(err error) (*regexp.Regexp, int, string) {
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, 0, fmt.Sprintf("invalid regular expression: %s: %q", se.Code, se.Expr)
		}
		return nil, 0, "invalid regular expression: " + err.Error()
	}
	// regexp.Compile would do this too, but not say how big the program
	// is.
	sre, err := syntax.Parse(b.String(), syntax.Perl)
	if err != nil {
		return invalid(err)
	}
	prog, err := syntax.Compile(sre.Simplify())
	if err != nil {
		return invalid(err)
	}
	if len(prog.Inst) > maxRegexInsts {
		return nil, 0, tooComplex
	}
	re, err = regexp.Compile(b.String())
	if err != nil {
		return invalid(err)
	}
	return re, 0, ""
}

// repetition parses a {m,n} quantifier at the start of s, where "Either m
// or n can be omitted" and the docs' heading writes {m, n} with a space.
// It returns its length, the Go form, which has no {,n}, and the largest
// count it allows, or the smallest if it has no largest.
func repetition(s string) (n int, rep string, count int, ok bool) {
	i := 1
	skip := func() {
		for i < len(s) && s[i] == ' ' {
			i++
		}
	}
	num := func() string {
		from := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		return s[from:i]
	}
	skip()
	lo := num()
	skip()
	comma := false
	hi := ""
	if i < len(s) && s[i] == ',' {
		comma = true
		i++
		skip()
		hi = num()
		skip()
	}
	if i == len(s) || s[i] != '}' || lo == "" && hi == "" {
		return 0, "", 0, false
	}
	if lo == "" {
		lo = "0"
	}
	// Long digit strings would overflow; they are too complex anyway.
	count = maxRegexInsts + 1
	if len(lo) <= 4 && len(hi) <= 4 {
		count, _ = strconv.Atoi(lo)
		if h, err := strconv.Atoi(hi); err == nil && h > count {
			count = h
		}
	}
	if !comma {
		rep = "{" + lo + "}"
	} else {
		rep = "{" + lo + "," + hi + "}"
	}
	return i + 1, rep, count, true
}

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
