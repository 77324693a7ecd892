package server

import "testing"

// FuzzAWSToken: a pagination token from a caller is its own kind's
// position or InvalidParameterException, never a panic or a negative
// position; a token the server gives reads back as the same position.
func FuzzAWSToken(f *testing.F) {
	f.Add("filter", awsToken("filter", 42))
	f.Add("f", awsToken("filter", 42))
	f.Add("groups", "!!!")
	f.Add("groups", awsToken("groups", -1))
	f.Fuzz(func(t *testing.T, kind, tok string) {
		n, err := parseAWSToken(kind, tok)
		if err != nil {
			if _, ok := err.(*awsError); !ok {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("position %d", n)
		}
		if tok != "" {
			if m, err := parseAWSToken(kind, awsToken(kind, n)); err != nil || m != n {
				t.Fatalf("round trip of %d: %d, %v", n, m, err)
			}
		}
	})
}
