package logstore

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"", ""},
		{"sudo -n true", "sudo n true"},
		{`{"command":"Sudo systemctl"}`, "command sudo systemctl"},
		{"naïve café_x", "naïve café x"},
		{"a1-b2.c3", "a1 b2 c3"},
		{"\x1b[0mOK", "0mok"},
	} {
		var got []string
		eachToken(tc.in, nil, func(tok []byte) { got = append(got, string(tok)) })
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("tokens of %q = %q, want %q", tc.in, g, tc.want)
		}
	}
}

func TestUnescapeJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`plain`, `plain`},
		{`a\"b\\c\/d`, `a"b\c/d`},
		{`\n\r\t\b\f`, "\n\r\t\b\f"},
		{`su\u0064o`, `sudo`},
		{`\u00e9\u4e16`, "é世"},
		{`\ud83d\ude00`, "😀"},
		{`\ud83d!`, "\uFFFD!"},
		{`\u12`, `\u12`},
		{`\x`, `\x`},
		{`end\`, `end\`},
	} {
		if got := unescapeJSON(tc.in); got != tc.want {
			t.Errorf("unescapeJSON(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPlanText(t *testing.T) {
	for _, tc := range []struct {
		anyOf [][]string
		want  string
		ok    bool
	}{
		{nil, "", false},
		{[][]string{{"-->"}}, "", false}, // no token: tells nothing
		{[][]string{{"sudo"}}, "[[[*sudo*]]]", true},
		{[][]string{{" sudo "}}, "[[[sudo]]]", true},
		{[][]string{{"ermission denied"}}, "[[[*ermission denied*]]]", true},
		{[][]string{{"/etc/shadow:"}}, "[[[etc shadow]]]", true},
		{[][]string{{"a", "->"}, {"Git"}}, "[[[*git*]]]", true}, // the first list has a literal without tokens
		{[][]string{{"x", "y"}}, "[[[*x*] [*y*]]]", true},
	} {
		plan, ok := planText(tc.anyOf)
		var b strings.Builder
		if len(plan) > 0 {
			b.WriteString("[")
			for i, list := range plan {
				if i > 0 {
					b.WriteString(" ")
				}
				b.WriteString("[")
				for j, lit := range list {
					if j > 0 {
						b.WriteString(" ")
					}
					b.WriteString("[")
					for k, tm := range lit {
						if k > 0 {
							b.WriteString(" ")
						}
						if tm.openLeft {
							b.WriteString("*")
						}
						b.WriteString(tm.tok)
						if tm.openRight {
							b.WriteString("*")
						}
					}
					b.WriteString("]")
				}
				b.WriteString("]")
			}
			b.WriteString("]")
		}
		if b.String() != tc.want || ok != tc.ok {
			t.Errorf("planText(%q) = %s, %v; want %s, %v", tc.anyOf, b.String(), ok, tc.want, tc.ok)
		}
	}
}

// buildSegment indexes msgs with IDs 10, 20, 30, ...
func buildSegment(msgs []string) *segmentBuilder {
	b := newSegmentBuilder()
	for i, m := range msgs {
		b.add(int64(10*(i+1)), m)
	}
	return b
}

func TestSegmentRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{"sudo", "ls", "Permission", "denied", "naïve", `\u001b[0m`, `\"q\"`, "x1", "x2"}
	for _, n := range []int{1, 7, 8, 9, 100, segmentEvents} {
		msgs := make([]string, n)
		for i := range msgs {
			var parts []string
			for range 1 + rng.IntN(5) {
				parts = append(parts, words[rng.IntN(len(words))])
			}
			msgs[i] = fmt.Sprintf(`{"sessionData":["%s %d"]}`, strings.Join(parts, " "), rng.IntN(1000))
		}
		b := buildSegment(msgs)
		data := b.encode()
		seg, err := decodeSegment(data)
		if err != nil {
			t.Fatalf("%d events: decode: %v", n, err)
		}
		if !slices.Equal(seg.ids, b.ids) {
			t.Fatalf("%d events: IDs differ", n)
		}
		if len(seg.toks) != len(b.posts) {
			t.Fatalf("%d events: %d tokens, want %d", n, len(seg.toks), len(b.posts))
		}
		for i, tok := range seg.toks {
			set := newBitset(n)
			seg.orPostings(i, set)
			var got []uint16
			for o := range n {
				if set[o/64]&(1<<(o%64)) != 0 {
					got = append(got, uint16(o))
				}
			}
			if !slices.Equal(got, b.posts[tok]) {
				t.Fatalf("%d events: token %q: postings %v, want %v", n, tok, got, b.posts[tok])
			}
		}
	}
}

func TestDecodeSegmentRejects(t *testing.T) {
	good := buildSegment([]string{"alpha beta", "beta gamma", "gamma"}).encode()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"wrong magic", append([]byte("PXS9"), good[4:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(slices.Clone(good), 0)},
		{"no events", []byte("PXS1\x00\x00")},
		{"IDs not increasing", []byte("PXS1\x02\x05\x00\x00")},
		{"too many events", []byte("PXS1\xff\xff\x03")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeSegment(tc.data); err == nil {
				t.Errorf("decoded %q", tc.data)
			}
		})
	}
}

// TestCandidatesSound: every event whose message holds a literal, raw or
// JSON-decoded, is a candidate, whatever the literal.
func TestCandidatesSound(t *testing.T) {
	msgs := []string{
		`{"command":"sudo -n true","exitCode":0}`,
		`{"command":"su\u0064o -i"}`,
		`{"sessionData":["cat: /etc/shadow: Permission denied"]}`,
		`{"sessionData":["pseudocode"]}`,
		`{"sessionData":["\u001b[1;31mERROR\u001b[0m disk full"]}`,
		`{"sessionData":["naïve café"]}`,
		`{"sessionData":["say \"hi\" there"]}`,
		`{"sessionData":["C:\\Users\\alice"]}`,
		`no json at all, SEGFAULT at 0x0`,
	}
	lits := []string{
		"sudo", "udo", "sudo -", "o -n t", "Permission denied", "ermission den", "/etc/shadow:",
		"pseudo", "docode", "ERROR", "\x1b[0m disk", "31mERR", "ïve ca", `"hi" there`, `say "`,
		`C:\Users`, `\\Users`, "segfault", "SEGFAULT at", "0x0", "command", "exitCode\":0",
		"nothing like it",
	}
	checkSound(t, msgs, lits)
}

func checkSound(t *testing.T, msgs, lits []string) {
	t.Helper()
	seg, err := decodeSegment(buildSegment(msgs).encode())
	if err != nil {
		t.Fatal(err)
	}
	for _, lit := range lits {
		plan, ok := planText([][]string{{lit}})
		if !ok {
			continue
		}
		cand := seg.candidates(plan)
		for i, m := range msgs {
			holds := strings.Contains(m, lit) || strings.Contains(unescapeJSON(m), lit)
			if holds && cand[i/64]&(1<<(i%64)) == 0 {
				t.Errorf("literal %q: event %q holds it but is not a candidate", lit, m)
			}
		}
	}
}

// TestCandidatesSelective: the index narrows, or it would not be worth it.
func TestCandidatesSelective(t *testing.T) {
	msgs := []string{`{"command":"sudo -n true"}`, `{"command":"ls"}`, `{"sessionData":["visudoers"]}`, `{"command":"make"}`}
	seg, _ := decodeSegment(buildSegment(msgs).encode())
	for _, tc := range []struct {
		anyOf [][]string
		want  []int
	}{
		{[][]string{{"sudo"}}, []int{0, 2}},
		{[][]string{{"sudo "}}, []int{0}},
		{[][]string{{`"ls"`}}, []int{1}},
		{[][]string{{"make", "ls"}}, []int{1, 3}},
		{[][]string{{"command"}, {"sudo"}}, []int{0}},
		{[][]string{{"absent"}}, nil},
	} {
		plan, _ := planText(tc.anyOf)
		cand := seg.candidates(plan)
		var got []int
		for i := range msgs {
			if cand[i/64]&(1<<(i%64)) != 0 {
				got = append(got, i)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: candidates %v, want %v", tc.anyOf, got, tc.want)
		}
	}
}

func FuzzDecodeSegment(f *testing.F) {
	f.Add(buildSegment([]string{"alpha beta", "beta gamma"}).encode())
	f.Add(buildSegment([]string{`{"a":"su\u0064o"}`}).encode())
	many := make([]string, 300)
	for i := range many {
		many[i] = fmt.Sprintf("common token-%d", i%7)
	}
	f.Add(buildSegment(many).encode())
	f.Add([]byte("PXS1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		seg, err := decodeSegment(data)
		if err != nil {
			return
		}
		// A segment that decodes can be queried without panicking.
		set := newBitset(len(seg.ids))
		for i := range seg.toks {
			seg.orPostings(i, set)
		}
		seg.candidates(textPlan{{{{tok: "a", openLeft: true, openRight: true}}}})
	})
}

func FuzzCandidatesSound(f *testing.F) {
	f.Add(`{"command":"su\u0064o -i"}`, `ls -la`, "sudo")
	f.Add(`{"x":"Permission denied"}`, `{"x":"\u001b[0m"}`, "ermission d")
	f.Add(`a\"b`, `c`, `a"b`)
	f.Fuzz(func(t *testing.T, m1, m2, lit string) {
		msgs := []string{strings.ToValidUTF8(m1, "?"), strings.ToValidUTF8(m2, "?")}
		checkSound(t, msgs, []string{lit})
		// And the encoding round-trips.
		b := buildSegment(msgs)
		data := b.encode()
		seg, err := decodeSegment(data)
		if err != nil {
			t.Fatalf("decode of an encoded segment: %v", err)
		}
		if !bytes.Equal(data, seg.reencode()) {
			t.Fatal("re-encoding differs")
		}
	})
}

// reencode encodes a decoded segment again, for round-trip checks.
func (s *segment) reencode() []byte {
	b := newSegmentBuilder()
	b.ids = s.ids
	for i, tok := range s.toks {
		set := newBitset(len(s.ids))
		s.orPostings(i, set)
		for o := range len(s.ids) {
			if set[o/64]&(1<<(o%64)) != 0 {
				b.posts[tok] = append(b.posts[tok], uint16(o))
			}
		}
	}
	return b.encode()
}
