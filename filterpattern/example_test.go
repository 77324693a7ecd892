package filterpattern_test

import (
	"fmt"

	"github.com/postern/postern/filterpattern"
)

// A metric filter that sums the bytes of 4xx responses, by server.
func Example() {
	p, err := filterpattern.Parse(`[ip, server, username, timestamp, request, status_code = 4*, bytes]`)
	if err != nil {
		panic(err)
	}
	dims := map[string]string{"Server": "$server"}
	if err := p.CheckMetric("$bytes", dims); err != nil {
		panic(err)
	}
	for _, msg := range []string{
		`127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534`,
		`127.0.0.1 Prod frank [10/Oct/2000:13:25:16 -0700] "GET /index.html HTTP/1.0" 200 2326`,
	} {
		v, ok := p.Value("$bytes", msg)
		if !ok {
			continue // no match, or no number: publish nothing
		}
		d, _ := p.Dimensions(dims, msg)
		fmt.Println(d["Server"], v)
	}
	// Output: Prod 1534
}
