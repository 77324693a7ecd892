package logger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/clocktest"
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

func TestThrottled(t *testing.T) {
	var lines []string
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	logf := throttled(func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }, time.Minute, clk.Now)
	for i := 0; i < 5; i++ {
		logf("poll %d failed", i)
		clk.Advance(time.Second)
	}
	clk.Advance(time.Minute)
	logf("poll %d failed", 5)
	if len(lines) != 2 || lines[0] != "poll 0 failed" || lines[1] != "poll 5 failed (and 4 more like it since the last one logged)" {
		t.Fatalf("lines = %q", lines)
	}
}
