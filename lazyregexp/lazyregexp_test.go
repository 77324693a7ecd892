package lazyregexp

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

func TestMatchesAsRegexp(t *testing.T) {
	r := New(`\{\{\s*([a-z]+)\s*\}\}`)
	if got := fmt.Sprint(r); got != `\{\{\s*([a-z]+)\s*\}\}` {
		t.Errorf("String() = %q", got)
	}
	in := "a {{ x }} b {{y}} {{ 1 }}"
	if !r.MatchString(in) || r.MatchString("{{ 1 }}") {
		t.Error("MatchString")
	}
	if got := r.FindString(in); got != "{{ x }}" {
		t.Errorf("FindString = %q", got)
	}
	if got := r.FindAllString(in, -1); !slices.Equal(got, []string{"{{ x }}", "{{y}}"}) {
		t.Errorf("FindAllString = %q", got)
	}
	if got := r.FindStringSubmatch(in); !slices.Equal(got, []string{"{{ x }}", "x"}) {
		t.Errorf("FindStringSubmatch = %q", got)
	}
	if got := r.FindAllStringSubmatch(in, -1); len(got) != 2 || got[1][1] != "y" {
		t.Errorf("FindAllStringSubmatch = %q", got)
	}
	if got := r.FindAllStringSubmatchIndex(in, -1); len(got) != 2 || got[0][2] != 5 || got[0][3] != 6 {
		t.Errorf("FindAllStringSubmatchIndex = %v", got)
	}
	if got := r.ReplaceAllString(in, "<$1>"); got != "a <x> b <y> {{ 1 }}" {
		t.Errorf("ReplaceAllString = %q", got)
	}
	if got := r.ReplaceAllStringFunc(in, func(string) string { return "_" }); got != "a _ b _ {{ 1 }}" {
		t.Errorf("ReplaceAllStringFunc = %q", got)
	}
}

// Compiling is deferred to the first use, and done once however many
// goroutines get there first.
func TestCompilesOnceOnFirstUse(t *testing.T) {
	r := New(`[`) // does not compile: would panic if New compiled it
	defer func() {
		if recover() == nil {
			t.Error("using a pattern that does not compile did not panic")
		}
	}()
	ok := New(`^[a-z]{1,512}$`)
	var wg sync.WaitGroup
	res := make([]bool, 8)
	for i := range res {
		wg.Go(func() { res[i] = ok.MatchString("abc") })
	}
	wg.Wait()
	if slices.Contains(res, false) {
		t.Errorf("concurrent first uses: %v", res)
	}
	if ok.Regexp() != ok.Regexp() {
		t.Error("compiled more than once")
	}
	r.MatchString("x")
}
