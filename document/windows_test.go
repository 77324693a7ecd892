package document

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf16"
)

func decodePowerShell(t *testing.T, enc string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(b)%2 != 0 {
		t.Fatalf("not UTF-16LE base64: %q %v", enc, err)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return string(utf16.Decode(u))
}

// TestResolveOnWindows: a Windows node runs properties.windows through
// PowerShell, the command parameter as written; a parameter inside a line
// is refused (no PowerShell quoting is trusted); a document without
// Windows commands says so.
func TestResolveOnWindows(t *testing.T) {
	doc, ok := Builtin("Postern-StartInteractiveCommand")
	if !ok {
		t.Fatal("no Postern-StartInteractiveCommand")
	}
	r, err := doc.ResolveOn(Windows, map[string]string{"command": `Get-Process | Where-Object { $_.Name -eq "ünïcode's" }`})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Command) != 4 || r.Command[0] != PowerShell || r.Command[1] != "-NoLogo" || r.Command[2] != "-EncodedCommand" {
		t.Fatalf("command %q", r.Command)
	}
	if got := decodePowerShell(t, r.Command[3]); got != `Get-Process | Where-Object { $_.Name -eq "ünïcode's" }` {
		t.Errorf("script %q", got)
	}
	if r, err := doc.Resolve(map[string]string{"command": "uname -a"}); err != nil || r.Command[0] != Shell {
		t.Errorf("Linux: %q %v", r.Command, err)
	}

	inline, err := Parse([]byte(`{"schemaVersion":"1.0","sessionType":"InteractiveCommands",
		"parameters":{"name":{"type":"String"}},
		"properties":{"linux":{"commands":"echo {{ name }}"},"windows":{"commands":"Write-Output {{ name }}"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inline.ResolveOn(Windows, map[string]string{"name": "x; Remove-Item C:\\ -Recurse"}); err == nil || !strings.Contains(err.Error(), "{{ name }} stands inside a command line: on Windows nodes a parameter may only be a whole line") {
		t.Errorf("a parameter inside a Windows line: %v", err)
	}
	linuxOnly, err := Parse([]byte(`{"schemaVersion":"1.0","sessionType":"NonInteractiveCommands","properties":{"linux":{"commands":"true"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := linuxOnly.ResolveOn(Windows, nil); err == nil || !strings.Contains(err.Error(), "no Windows commands (properties.windows.commands)") {
		t.Errorf("a document without Windows commands: %v", err)
	}
}

// TestWindowsScriptTooLong: a script that cannot fit a Windows command
// line once encoded is refused with its size.
func TestWindowsScriptTooLong(t *testing.T) {
	doc, _ := Builtin("Postern-StartNonInteractiveCommand")
	if _, err := doc.ResolveOn(Windows, map[string]string{"command": strings.Repeat("x", 13000)}); err == nil || !strings.Contains(err.Error(), "too long for a Windows command line once encoded") {
		t.Errorf("a long script: %v", err)
	}
}
