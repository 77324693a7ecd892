// Package lazyregexp is a regular expression compiled on first use, as Go
// does for its own commands (internal/lazyregexp). A package-level
// regexp.MustCompile runs in every process that links the package, used or
// not: a pattern such as [a-z]{1,512} expands to hundreds of instructions,
// and Postern's CLI and agent paid hundreds of kilobytes at start for
// patterns only the server uses.
package lazyregexp

import (
	"regexp"
	"sync"
)

// Regexp is a regexp.Regexp compiled the first time it is used. Its
// methods are regexp.Regexp's.
type Regexp struct {
	src string
	re  func() *regexp.Regexp
}

// New returns a Regexp for src, which must compile: the first use panics
// otherwise, as regexp.MustCompile does (the package's tests use every
// pattern, so a bad one fails them).
func New(src string) *Regexp {
	return &Regexp{src: src, re: sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(src) })}
}

// Regexp returns the compiled expression.
func (r *Regexp) Regexp() *regexp.Regexp { return r.re() }

// String returns the source text, without compiling it.
func (r *Regexp) String() string { return r.src }

func (r *Regexp) MatchString(s string) bool { return r.re().MatchString(s) }

func (r *Regexp) FindString(s string) string { return r.re().FindString(s) }

func (r *Regexp) FindAllString(s string, n int) []string { return r.re().FindAllString(s, n) }

func (r *Regexp) FindStringSubmatch(s string) []string { return r.re().FindStringSubmatch(s) }

func (r *Regexp) FindAllStringSubmatch(s string, n int) [][]string {
	return r.re().FindAllStringSubmatch(s, n)
}

func (r *Regexp) FindAllStringSubmatchIndex(s string, n int) [][]int {
	return r.re().FindAllStringSubmatchIndex(s, n)
}

func (r *Regexp) ReplaceAllString(src, repl string) string {
	return r.re().ReplaceAllString(src, repl)
}

func (r *Regexp) ReplaceAllStringFunc(src string, repl func(string) string) string {
	return r.re().ReplaceAllStringFunc(src, repl)
}
