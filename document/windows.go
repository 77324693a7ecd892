package document

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
)

// PowerShell runs a Windows node's commands, as Session Manager's agent
// does. The script goes in as -EncodedCommand (UTF-16LE, base64): a
// Windows command line has no quoting PowerShell and every script agree
// on.
const PowerShell = "powershell.exe"

// maxEncodedCommand bounds the encoded script: a Windows command line
// holds at most 32767 characters, the program and flags included.
const maxEncodedCommand = 32000

// resolveWindowsCommands resolves properties.windows for a Windows node.
//
// Parameters stand only alone on a line there (AWS-StartInteractiveCommand's
// "{{ command }}": the parameter is the command): Postern quotes values
// inside a line for sh after reading the line as sh does
// (checkPlaceholders), and has no such reading of PowerShell, so a value
// inside a line could add PowerShell syntax. Such a document is refused
// with why, rather than run with a guess.
func resolveWindowsCommands(r *Resolved, d *Document, vals map[string]value) error {
	win, ok := d.Properties["windows"].(map[string]any)
	if !ok {
		return errors.New("properties: this document has no Windows commands (properties.windows.commands) for this Windows node")
	}
	lines, err := commandLines(win["commands"])
	if err != nil {
		return fmt.Errorf("properties.windows.commands: %w", err)
	}
	var sb strings.Builder
	for i, line := range strings.Split(strings.Join(lines, "\n"), "\n") {
		if i > 0 {
			sb.WriteByte('\n')
		}
		if m := wholeRE.FindStringSubmatch(line); m != nil {
			sb.WriteString(rawText(vals[m[1]]))
			continue
		}
		if m := placeholderRE.FindString(line); m != "" {
			return fmt.Errorf("properties.windows.commands: %s stands inside a command line: on Windows nodes a parameter may only be a whole line, which is the command itself", m)
		}
		sb.WriteString(line)
	}
	script := sb.String()
	if strings.TrimSpace(script) == "" {
		return errors.New("properties.windows.commands: empty once parameters are substituted")
	}
	enc := EncodePowerShell(script)
	if len(enc) > maxEncodedCommand {
		return fmt.Errorf("properties.windows.commands: the script is %d bytes, too long for a Windows command line once encoded (%d characters; at most %d): put it in a file on the node and run that", len(script), len(enc), maxEncodedCommand)
	}
	r.Command = []string{PowerShell, "-NoLogo", "-EncodedCommand", enc}
	return nil
}

// EncodePowerShell is script as PowerShell's -EncodedCommand takes it.
func EncodePowerShell(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	return base64.StdEncoding.EncodeToString(b)
}
