package document

import (
	"strings"
	"testing"
)

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `''`},
		{"abc", `'abc'`},
		{"it's", `'it'\''s'`},
		{"''", `''\'''\'''`},
		{"$(id) `id` \"x\" \\n", `'$(id) ` + "`id`" + ` "x" \n'`},
		{"a\nb", "'a\nb'"},
	}
	for _, tt := range tests {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// Where a placeholder may stand in a command, and why not elsewhere.
func TestCheckPlaceholders(t *testing.T) {
	tests := []struct {
		name    string
		command string
		want    string // "" if allowed, else a substring of the error
	}{
		// Plain words.
		{"argument", `ls -l {{ x }}`, ""},
		{"command name", `{{ x }} --help`, ""},
		{"in a word", `cp a.txt backup-{{ x }}.txt`, ""},
		{"assignment", `FOO={{ x }} env`, ""},
		{"redirection", `echo hi > {{ x }}`, ""},
		{"here-string", `cat <<< {{ x }}`, ""},
		{"after quotes close", `echo 'a'{{ x }}"b"`, ""},
		{"escaped backslash before", `echo \\{{ x }}`, ""},
		{"hash inside a word", `echo a#{{ x }}`, ""},
		{"hash after placeholder", `echo {{ x }}#a`, ""},
		{"variable followed by hash", `echo $# {{ x }}`, ""},
		{"in command substitution", `echo $(cat {{ x }})`, ""},
		{"in command substitution in double quotes", `echo "$(cat {{ x }})"`, ""},
		{"in process substitution", `diff <(cat {{ x }}) b`, ""},
		{"in default of expansion via substitution", `echo ${v:-$(echo {{ x }})}`, ""},
		{"in subshell", `(cd /tmp && ls {{ x }})`, ""},
		{"in brace group", `{ ls {{ x }}; }`, ""},
		{"after subshell in substitution", `echo $( (ls) ; echo {{ x }})`, ""},
		{"after case at top level", "case a in a) echo ok;; esac\necho {{ x }}", ""},
		{"after arithmetic", `echo $((1+(2*3))) {{ x }}`, ""},
		{"after arithmetic command", `((i=1)); echo {{ x }}`, ""},
		{"after expansion", `echo ${HOME} ${#v} {{ x }}`, ""},
		{"after backquotes", "echo `date` {{ x }}", ""},
		{"after comment", "# don't\necho {{ x }}", ""},
		{"after here-document", "cat <<EOF\n'\nEOF\necho {{ x }}", ""},
		{"after tab-stripped here-document", "cat <<-EOF\n\t'\n\tEOF\necho {{ x }}", ""},
		{"after two here-documents", "cat <<A <<'B'\n'\nA\n\"\nB\necho {{ x }}", ""},
		{"after here-document in substitution", "v=$(cat <<EOF\n'\nEOF\n)\necho {{ x }}", ""},
		{"after double-quoted dollar quote", `echo "$'" {{ x }}`, ""},
		{"after escaped quotes", `echo \' \" {{ x }}`, ""},
		{"after line continuation", "echo a \\\n  {{ x }} b", ""},

		// Quoting contexts.
		{"single quotes", `echo '{{ x }}'`, "inside single quotes"},
		{"double quotes", `echo "{{ x }}"`, "inside double quotes"},
		{"double quotes escaped before", `echo "\{{ x }}"`, "inside double quotes"},
		{"backquotes", "echo `ls {{ x }}`", "inside backquotes"},
		{"backquotes in double quotes", "echo \"`ls {{ x }}`\"", "inside backquotes"},
		{"escaped in backquotes", "echo `ls \\{{ x }}`", "inside backquotes"},
		{"after backslash", `echo \{{ x }}`, "after a backslash"},
		{"after dollar", `echo ${{ x }}`, "right after a $"},
		{"after dollar in double quotes", `echo "${{ x }}"`, "right after a $"},
		{"parameter expansion", `echo ${v:-{{ x }}}`, "inside ${...}"},
		{"arithmetic", `echo $(( {{ x }} + 1 ))`, "inside $((...))"},
		{"arithmetic command", `(( {{ x }} ))`, "inside ((...))"},
		{"comment", `ls # {{ x }}`, "inside a comment"},
		{"comment after operator", `(ls)#{{ x }}`, "inside a comment"},
		{"comment in substitution", "echo $(ls # {{ x }}\n)", "inside a comment"},
		{"here-document body", "cat <<EOF\n{{ x }} and more\nEOF", "inside a here-document"},
		{"quoted here-document body", "cat <<'EOF'\nsay {{ x }}\nEOF", "inside a here-document"},
		{"unterminated here-document", "cat <<EOF\nsay {{ x }}", "inside a here-document"},
		{"here-document delimiter", `cat <<{{ x }}`, "in a here-document delimiter"},
		{"quoted here-document delimiter", `cat <<'{{ x }}'`, "in a here-document delimiter"},
		{"here-document delimiter with escape", `cat <<\{{ x }}`, "in a here-document delimiter"},
		{"here-document line not the delimiter", "cat <<EOF\nEOF \n{{ x }} y\nEOF", "inside a here-document"},
		{"single quote spans lines", "echo 'a\n{{ x }} b'", "inside single quotes"},
		{"double quote after substitution", `echo "$(ls)" "{{ x }}"`, "inside double quotes"},
		{"double quote holding parenthesis in substitution", `echo $(echo ")") "{{ x }}"`, "inside double quotes"},

		// Whole-line placeholders: the command itself.
		{"whole line", `{{ x }}`, ""},
		{"whole line among others", "cd /tmp\n{{ x }}\nls", ""},
		{"whole line after pipe", "ls |\n{{ x }}", ""},
		{"whole line in quotes", "echo '\n{{ x }}\n'", "alone on its line, is a whole command, but it is inside single quotes"},
		{"whole line in substitution", "echo $(\n{{ x }}\n)", "alone on its line, is a whole command, but it is inside $(...)"},
		{"whole line after continuation", "echo \\\n{{ x }}", "continues the line before"},

		// What cannot be checked.
		{"ansi quoting", `echo $'\'' {{ x }}`, "$'...' quoting"},
		{"old arithmetic", `echo $[1] {{ x }}`, "$[...] arithmetic"},
		{"quotes in expansion", `echo ${v:-'}'} {{ x }}`, "quotes inside ${...}"},
		{"quotes in arithmetic", `echo $(( "1" )) {{ x }}`, "quotes inside arithmetic"},
		{"case in substitution", `echo $(case a in a) echo;; esac) {{ x }}`, "case inside $(...)"},
		{"subshell that looks like arithmetic", `echo $((ls) ) {{ x }}`, "that is not arithmetic"},
		{"here-document escaping its end", "cat <<EOF\na\\\nEOF\nEOF\necho {{ x }}", "ends in a backslash"},
		{"here-document crossing substitution", "echo $(cat <<EOF)\nx\nEOF\necho {{ x }}", "starts inside $(...) and ends outside it"},
		{"expansion in delimiter", "cat <<$E\nx\n$E\necho {{ x }}", "expansion in a here-document delimiter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildScript([]string{tt.command}, nil)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused %q: %v", tt.command, err)
			case tt.want != "" && err == nil:
				t.Errorf("allowed %q", tt.command)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("error for %q does not say %q: %v", tt.command, tt.want, err)
			}
		})
	}
}

// Commands without placeholders are not read at all: whatever they are,
// they are the document author's.
func TestCheckPlaceholdersIgnoresPlainCommands(t *testing.T) {
	for _, c := range []string{`echo $'x'`, `echo 'unterminated`, "case a in a) ;; esac", `echo ${v:-'x'}`} {
		if _, err := buildScript([]string{c}, nil); err != nil {
			t.Errorf("%q: %v", c, err)
		}
	}
}
