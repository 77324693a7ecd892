package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMELinks: the README stands alone. Every link in it is either to
// the web or resolves inside the repository: a file that exists, or a
// heading of the README itself (issue 17, item 10).
func TestREADMELinks(t *testing.T) {
	root := filepath.Join("..", "..")
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(text, -1) {
		anchors[slug(m[1])] = true
	}
	links := regexp.MustCompile(`\]\(([^)\s]+)\)`).FindAllStringSubmatch(text, -1)
	if len(links) == 0 {
		t.Fatal("no links found: the pattern is wrong")
	}
	for _, m := range links {
		link := m[1]
		switch {
		case strings.HasPrefix(link, "https://"), strings.HasPrefix(link, "http://"):
		case strings.HasPrefix(link, "#"):
			if !anchors[link[1:]] {
				t.Errorf("link %s: no such heading in the README", link)
			}
		default:
			p, _, _ := strings.Cut(link, "#")
			abs, err := filepath.Abs(filepath.Join(root, p))
			top, _ := filepath.Abs(root)
			if err != nil || !strings.HasPrefix(abs, top+string(filepath.Separator)) {
				t.Errorf("link %s leaves the repository: dead in any clone", link)
				continue
			}
			if _, err := os.Stat(abs); err != nil {
				t.Errorf("link %s: %v", link, err)
			}
		}
	}
}

// slug is the anchor GitHub-style renderers give a heading.
func slug(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	var b strings.Builder
	for _, r := range h {
		switch {
		case r == ' ' || r == '-':
			b.WriteRune('-')
		case r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}
