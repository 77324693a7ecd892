package logquery

import (
	"regexp"
	"testing"
	"unicode/utf8"
)

func TestMatcher(t *testing.T) {
	for _, tc := range []struct {
		re, s string
		want  bool
	}{
		{`\d+\.\d+\.\d+\.\d+`, "from 10.0.0.1 port 22", true},
		{`\d+\.\d+\.\d+\.\d+`, "version 1.2.3", false},
		{`(?i)password`, "PassWord: ", true},
		{`^sudo\b`, "sudo -i", true},
		{`^sudo\b`, "visudo", false},
		{`café|naïve`, "a naïve test", true},
		{`x`, "bad \xff utf-8 x", true},
	} {
		m := matcher(regexp.MustCompile(tc.re))
		if got := m(tc.s); got != tc.want {
			t.Errorf("/%s/ on %q = %v, want %v", tc.re, tc.s, got, tc.want)
		}
	}
}

func FuzzRE2AgreesWithRegexp(f *testing.F) {
	for _, seed := range [][2]string{
		{`\d+\.\d+\.\d+\.\d+`, "from 10.0.0.1 port 22"},
		{`(?i)password`, "PassWord"},
		{`^sudo\b`, "visudo"},
		{`[Pp]ermission denied|segfault`, "cat: x: Permission denied"},
		{`\bfile-9\d{4}\b`, "file-91234 file-9"},
		{`(?s).`, "\n"},
		{`\pL+`, "naïve"},
		{`a{2,3}?$`, "caaa"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		re, err := regexp.Compile(pattern)
		if err != nil || !utf8.ValidString(s) {
			return
		}
		if got, want := matcher(re)(s), re.MatchString(s); got != want {
			t.Errorf("/%s/ on %q: RE2 says %v, regexp %v", pattern, s, got, want)
		}
	})
}
