package logquery

import (
	"regexp"
	"unicode/utf8"

	re2 "github.com/wasilibs/go-re2"
)

// matcher returns how a like /regex/ tests a value: with RE2 itself (package
// go-re2, RE2's C++ compiled to Go, so pure Go) where it takes the pattern,
// else with package regexp. Both implement the same syntax and semantics, but
// RE2's DFA matches a pattern without a literal prefix five to ten times
// faster than regexp's backtracker, which is what a full scan spends its time
// on. FuzzRE2AgreesWithRegexp holds them to the same answers.
//
// RE2 stops at invalid UTF-8 where regexp reads U+FFFD; values that are not
// valid UTF-8 (the store replaces bad bytes, so rarely) go to regexp.
func matcher(re *regexp.Regexp) func(string) bool {
	fast, err := re2.Compile(re.String())
	if err != nil {
		return re.MatchString
	}
	return func(s string) bool {
		if !utf8.ValidString(s) {
			return re.MatchString(s)
		}
		return fast.MatchString(s)
	}
}
