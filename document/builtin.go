package document

import (
	"embed"
	"fmt"
	"slices"
	"strings"
)

// The built-in documents are JSON files, so that they read like the
// documents users write and are checked by the same parser.
//
//go:embed builtin/*.json
var builtinFS embed.FS

// awsNames maps Session Manager's names of its documents to the built-in
// ones that do the same, so that scripts written for it work unchanged.
var awsNames = map[string]string{
	"SSM-SessionManagerRunShell":                 "Postern-SessionManagerRunShell",
	"AWS-StartInteractiveCommand":                "Postern-StartInteractiveCommand",
	"AWS-StartNonInteractiveCommand":             "Postern-StartNonInteractiveCommand",
	"AWS-StartPortForwardingSession":             "Postern-StartPortForwardingSession",
	"AWS-StartPortForwardingSessionToRemoteHost": "Postern-StartPortForwardingSessionToRemoteHost",
	"AWS-StartSSHSession":                        "Postern-StartSSHSession",
}

// DefaultPreferences is the name of the built-in Standard_Stream document:
// the preferences that apply when an account has set none.
const DefaultPreferences = "Postern-SessionManagerRunShell"

// Builtin returns a fresh copy of the built-in document called name, which
// may be its Postern name or Session Manager's (AWS-StartSSHSession,
// SSM-SessionManagerRunShell and so on).
func Builtin(name string) (*Document, bool) {
	content, ok := BuiltinContent(name)
	if !ok {
		return nil, false
	}
	d, err := Parse([]byte(content))
	if err != nil {
		// The files are part of the program, and the tests parse them all.
		panic(fmt.Sprintf("document: built-in %s is invalid: %v", name, err))
	}
	return d, true
}

// BuiltinContent returns the JSON text of the built-in document called
// name (a Postern name or Session Manager's), for showing it as written.
func BuiltinContent(name string) (string, bool) {
	if n, ok := awsNames[name]; ok {
		name = n
	}
	if !strings.HasPrefix(name, "Postern-") || strings.ContainsAny(name, "/\\") {
		return "", false
	}
	data, err := builtinFS.ReadFile("builtin/" + name + ".json")
	if err != nil {
		return "", false
	}
	return string(data), true
}

// PosternName returns the Postern name of a built-in document named by
// Session Manager's name (AWS-StartSSHSession is Postern-StartSSHSession),
// and any other name as it is.
func PosternName(name string) string {
	if n, ok := awsNames[name]; ok {
		return n
	}
	return name
}

// BuiltinNames returns the Postern names of the built-in documents, sorted.
// Builtin also answers to Session Manager's names for them.
func BuiltinNames() []string {
	entries, _ := builtinFS.ReadDir("builtin")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".json"))
	}
	slices.Sort(names)
	return names
}
