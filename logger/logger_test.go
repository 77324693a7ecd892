package logger

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestJSON(t *testing.T) {
	var b bytes.Buffer
	logf, err := New(FormatJSON, &b)
	if err != nil {
		t.Fatal(err)
	}
	logf("server: session %s ended", "alice-1")
	logf("plain line with no component")
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		lines = append(lines, m)
	}
	if lines[0]["component"] != "server" || lines[0]["msg"] != "session alice-1 ended" || lines[0]["level"] != "INFO" || lines[0]["time"] == nil {
		t.Errorf("first line %v", lines[0])
	}
	if lines[1]["msg"] != "plain line with no component" || lines[1]["component"] != nil {
		t.Errorf("second line %v", lines[1])
	}
	if _, err := New("xml", &b); err == nil {
		t.Error("xml accepted")
	}
}
