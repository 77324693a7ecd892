package logquery

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestRequiredLits(t *testing.T) {
	tests := []struct {
		re   string
		want string // joined by |; "" for none
	}{
		{`[Pp]ermission denied|segfault`, "ermission denied|segfault"},
		{`sudo\s+-u`, "sudo"},
		{`(?i)sudo`, ""},
		{`a*`, ""},
		{`x(abc)+y`, "abc"},
		{`(foo|ba[rz])`, "foo|ba"},
		{`\d+\.\d+`, "."},
		{`(?:error|warn)?ing`, "ing"},
		{`.`, ""},
	}
	for _, tt := range tests {
		got := strings.Join(requiredLits(regexp.MustCompile(tt.re)), "|")
		if got != tt.want {
			t.Errorf("requiredLits(%q) = %q, want %q", tt.re, got, tt.want)
		}
	}
}

// FuzzRequiredLits checks the literals' promise: every match contains one.
func FuzzRequiredLits(f *testing.F) {
	f.Add(`[Pp]ermission denied|segfault`, "cat: Permission denied")
	f.Add(`x(abc)+y|q{2,3}`, "zzqqq")
	f.Add(`(a|b)c(d|e)`, "bce")
	f.Fuzz(func(t *testing.T, expr, s string) {
		re, err := regexp.Compile(expr)
		if err != nil {
			return
		}
		lits := requiredLits(re)
		if lits != nil && re.MatchString(s) && !containsAny(s, lits) {
			t.Fatalf("%q matches %q but holds none of %q", expr, s, lits)
		}
	})
}

func TestMessageLiterals(t *testing.T) {
	tests := []struct{ q, want string }{
		{`filter command like /sudo/ | stats count(*) by userIdentity.arn`, "[[sudo]]"},
		{`filter @message like /[Pp]ermission denied|segfault/`, "[[ermission denied segfault]]"},
		{`filter exitCode != 0`, "[]"},
		{`filter eventType = "Command" and command in ["ls", "pwd"]`, "[[Command]]"},
		{`fields @message`, "[]"},
	}
	for _, tt := range tests {
		q, err := Parse(tt.q)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(q.MessageLiterals()); got != tt.want {
			t.Errorf("MessageLiterals(%q) = %s, want %s", tt.q, got, tt.want)
		}
	}
}
