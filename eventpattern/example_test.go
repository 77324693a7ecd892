package eventpattern_test

import (
	"fmt"

	"github.com/postern/postern/eventpattern"
)

func Example() {
	rule, err := eventpattern.Parse([]byte(`{
	  "source": ["postern.session"],
	  "detail-type": ["Session State Change"],
	  "detail": {
	    "state": ["terminated"],
	    "reason": [{"prefix": "idle"}],
	    "target": {"tags": {"env": ["prod"]}}
	  }
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	// Decode each event once and match it against every rule.
	ev, err := eventpattern.DecodeEvent([]byte(`{
	  "source": "postern.session",
	  "detail-type": "Session State Change",
	  "detail": {"state": "terminated", "reason": "idle timeout", "target": {"id": "n-1", "tags": {"env": "staging"}}}
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rule.Match(ev))
	fmt.Println(rule.Explain(ev))
	// Output:
	// false
	// no match: detail.target.tags.env: "staging" is not one of ["prod"]
}

func ExampleParse_error() {
	_, err := eventpattern.Parse([]byte(`{"detail": {"state": [{"prefix": ["run"]}]}}`))
	fmt.Println(err)
	// Output:
	// detail.state: "prefix" takes a string or {"equals-ignore-case": string}, not an array
}
