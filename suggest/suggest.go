// Package suggest finds the known name a misspelt one was most likely
// meant to be, so that an unknown field in a document or a configuration
// file can say "did you mean ...?".
package suggest

import "strings"

// Closest returns the name in known that name was most likely meant to
// be, or "" if none is close: a misspelt field should say what it meant.
func Closest(name string, known []string) string {
	// Names longer than any known one by this much are not misspellings,
	// and comparing them would only cost time.
	const maxLen = 64
	if len(name) > maxLen {
		return ""
	}
	best, bestDist := "", len(name)+maxLen
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return k
		}
		if d := editDistance(strings.ToLower(name), strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	// One edit in three characters, up to three, is a typo; more is a
	// different word.
	if bestDist <= min(3, max(1, len(name)/3)) {
		return best
	}
	return ""
}

// editDistance is the number of insertions, deletions, substitutions and
// swaps of adjacent bytes that turn a into b (the optimal string alignment
// distance): "hots" is one edit from "host".
func editDistance(a, b string) int {
	// Three rows: the swap looks two back.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
