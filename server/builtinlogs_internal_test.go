package server

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitMessage(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want []string
	}{
		{"empty", "", 4, []string{""}},
		{"fits", "abcd", 4, []string{"abcd"}},
		{"cut", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"not inside a character", "aéé", 4, []string{"aé", "é"}},
		{"exact multiple", "abcdefgh", 4, []string{"abcd", "efgh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitMessage(tt.in, tt.max)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("splitMessage(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
			for _, p := range got {
				if len(p) > tt.max || !utf8.ValidString(p) {
					t.Errorf("piece %q: %d bytes or invalid UTF-8", p, len(p))
				}
			}
		})
	}
}
