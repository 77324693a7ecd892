package eventpattern

import (
	"fmt"
	"strings"
	"testing"
)

// A session event in EventBridge's envelope, as Postern emits them.
const benchEvent = `{
  "version": "0", "id": "7f0d1b9c-5a4e-4c7e-9a55-0d2b8f6f4a11",
  "detail-type": "Session State Change", "source": "postern.session",
  "account": "123456789012", "time": "2026-01-02T03:04:05Z", "region": "local",
  "resources": ["arn:postern:ssm:local:123456789012:managed-instance/n-0a1b2c3d4e5f60718"],
  "detail": {
    "sessionId": "alice-0a1b2c3d4e5f60718", "state": "terminated", "reason": "idle timeout",
    "target": {"id": "n-0a1b2c3d4e5f60718", "tags": {"env": "prod", "team": "payments"}},
    "userIdentity": {"arn": "arn:postern:iam::123456789012:user/alice"},
    "document": "Postern-StartInteractiveCommand", "durationMs": 183422, "sourceIp": "10.1.2.3"
  }
}`

// benchRules are 100 rules of the kinds users write: one in ten matches
// the event.
func benchRules(tb testing.TB) []*Pattern {
	kinds := []string{
		`{"source": ["postern.session"], "detail-type": ["Session State Change"], "detail": {"state": ["terminated"], "target": {"tags": {"env": ["prod"]}}}}`,
		`{"source": ["postern.node"], "detail": {"state": ["offline"]}}`,
		`{"source": ["postern.session"], "detail": {"reason": [{"prefix": "max"}]}}`,
		`{"detail": {"userIdentity": {"arn": [{"wildcard": "arn:postern:iam::*:user/bob*"}]}}}`,
		`{"detail": {"durationMs": [{"numeric": [">", 3600000]}]}}`,
		`{"detail": {"state": [{"anything-but": ["terminated", "connected"]}]}}`,
		`{"$or": [{"source": ["postern.key"]}, {"detail": {"document": [{"suffix": "RunShellScript"}]}}]}`,
		`{"detail": {"sourceIp": [{"cidr": "192.168.0.0/16"}]}}`,
		`{"resources": [{"prefix": "arn:postern:ssm:local:999"}]}`,
		`{"detail": {"target": {"tags": {"team": [{"equals-ignore-case": "SECURITY"}]}}, "reason": [{"exists": true}]}}`,
	}
	var rules []*Pattern
	for i := range 100 {
		rules = append(rules, mustParse(tb, kinds[i%len(kinds)]))
	}
	return rules
}

// BenchmarkMatchRules matches one decoded event against 100 rules per
// iteration; ns/op over 100 is the cost of one rule.
func BenchmarkMatchRules(b *testing.B) {
	rules := benchRules(b)
	ev := mustDecode(b, benchEvent)
	b.ReportAllocs()
	matched := 0
	for b.Loop() {
		for _, r := range rules {
			if r.Match(ev) {
				matched++
			}
		}
	}
	if matched != 10*b.N {
		b.Fatalf("%d matches in %d iterations, want 10 per iteration", matched, b.N)
	}
}

// BenchmarkDecodeEvent is the cost paid once per event.
func BenchmarkDecodeEvent(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchEvent)))
	for b.Loop() {
		if _, err := DecodeEvent([]byte(benchEvent)); err != nil {
			b.Fatal(err)
		}
	}
}

// worstCase is close to the most work a caller of test-pattern can ask
// for: a pattern of nearly MaxPatternLength characters, every one of whose
// $or branches walks every element of an array that fills an event of
// MaxEventSize bytes, and matches none.
func worstCase(tb testing.TB) (*Pattern, *Event) {
	var branches []string
	for i := 0; ; i++ {
		br := fmt.Sprintf(`{"a":{"b":[{"wildcard":"*x*y%d*"}]}}`, i)
		if len(`{"$or":[]}`)+len(strings.Join(append(branches, br), ",")) > MaxPatternLength {
			break
		}
		branches = append(branches, br)
	}
	p := mustParse(tb, `{"$or":[`+strings.Join(branches, ",")+`]}`)
	elem := `{"b":"` + strings.Repeat("x", 40) + `"},`
	n := (MaxEventSize - 16) / len(elem)
	ev := mustDecode(tb, `{"a":[`+strings.TrimSuffix(strings.Repeat(elem, n), ",")+`]}`)
	return p, ev
}

func BenchmarkWorstCaseMatch(b *testing.B) {
	p, ev := worstCase(b)
	b.ReportAllocs()
	for b.Loop() {
		if p.Match(ev) {
			b.Fatal("matched")
		}
	}
}

func BenchmarkWorstCaseExplain(b *testing.B) {
	p, ev := worstCase(b)
	b.ReportAllocs()
	for b.Loop() {
		if p.Explain(ev).Matched {
			b.Fatal("matched")
		}
	}
}

// worstCaseValues is the other way to ask for the most work: a list of
// nearly a thousand values, none of which is among the tens of thousands
// of elements of an array that fills an event.
func worstCaseValues(tb testing.TB) (*Pattern, *Event) {
	var vals []string
	for i := 0; len(`{"a":[]}`)+len(strings.Join(vals, ","))+8 < MaxPatternLength; i++ {
		vals = append(vals, fmt.Sprintf(`"%d"`, i))
	}
	p := mustParse(tb, `{"a":[`+strings.Join(vals, ",")+`]}`)
	n := (MaxEventSize - 16) / len(`"x",`)
	ev := mustDecode(tb, `{"a":[`+strings.TrimSuffix(strings.Repeat(`"x",`, n), ",")+`]}`)
	return p, ev
}

func BenchmarkWorstCaseValues(b *testing.B) {
	p, ev := worstCaseValues(b)
	b.ReportAllocs()
	for b.Loop() {
		if p.Match(ev) {
			b.Fatal("matched")
		}
	}
}
