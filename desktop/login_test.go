package desktop

import (
	"strings"
	"testing"

	"github.com/postern/postern/guac"
)

func TestParseLogin(t *testing.T) {
	l, err := ParseLogin(guac.Instruction{Opcode: "login", Args: []string{"alice", "s3cret", "CORP", "nla", "1280", "720", "120"}})
	if err != nil {
		t.Fatal(err)
	}
	if l != (Login{Username: "alice", Password: "s3cret", Domain: "CORP", Security: "nla", Width: 1280, Height: 720, DPI: 120}) {
		t.Fatalf("login = %+v", l)
	}
	// No NLA, signing in on the desktop's own screen; a DPI out of range
	// falls back to 96.
	l, err = ParseLogin(guac.Instruction{Opcode: "login", Args: []string{"", "", "", "tls", "800", "600", "9000"}})
	if err != nil || l.Security != "tls" || l.DPI != 96 {
		t.Fatalf("login = %+v, %v", l, err)
	}
	for _, tc := range []struct {
		in   guac.Instruction
		want string
	}{
		{guac.Instruction{Opcode: "mouse", Args: []string{"1", "2", "0"}}, "must be login"},
		{guac.Instruction{Opcode: "login", Args: []string{"a"}}, "takes 7 arguments"},
		{guac.Instruction{Opcode: "login", Args: []string{"a", "p", "", "kerberos", "800", "600", "96"}}, `security "kerberos"`},
		{guac.Instruction{Opcode: "login", Args: []string{"", "", "", "nla", "800", "600", "96"}}, "NLA needs the desktop's user name"},
		{guac.Instruction{Opcode: "login", Args: []string{"a", "p", "", "any", "99999", "600", "96"}}, `width "99999"`},
		{guac.Instruction{Opcode: "login", Args: []string{"a", "p", "", "any", "800", "tall", "96"}}, `height "tall"`},
		{guac.Instruction{Opcode: "login", Args: []string{strings.Repeat("a", 300), "p", "", "any", "800", "600", "96"}}, "too long"},
	} {
		if _, err := ParseLogin(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to say %q", tc.in, err, tc.want)
		}
	}
}

func TestReasons(t *testing.T) {
	for code, want := range map[guac.Status]string{
		guac.StatusClientUnauthorized: "DesktopAuthenticationFailed",
		guac.StatusUpstreamNotFound:   "DesktopUnreachable",
		guac.StatusUpstreamTimeout:    "DesktopTimeout",
		guac.StatusUpstreamError:      "DesktopConnectionFailed",
		guac.StatusServerError:        "DesktopProgramFailed",
	} {
		if got := (&EngineError{Code: code}).Reason(); got != want {
			t.Errorf("Reason(%d) = %s, want %s", code, got, want)
		}
	}
}

func FuzzInput(f *testing.F) {
	f.Add([]byte("5.mouse,2.10,2.20,1.1;3.key,5.65307,1.1;4.sync,3.123;"))
	f.Add([]byte("5.login,1.a,1.b,0.,3.nla,4.1024,3.768,2.96;"))
	f.Add([]byte("0.,4.ping,3.123;"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Whatever a browser sends is parsed, checked, and refused with
		// an error or passed on; never a panic.
		r := guac.NewReader(strings.NewReader(string(b)), 0)
		for {
			in, _, err := r.Next()
			if err != nil {
				return
			}
			ParseLogin(in)
			numbers(in, 1, 3)
		}
	})
}
