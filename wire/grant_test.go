package wire

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var testGrantKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func testSign(msg []byte) ([]byte, []byte, error) {
	return ed25519.Sign(testGrantKey, msg), []byte("not really a certificate"), nil
}

func TestGrantRoundTrip(t *testing.T) {
	o := Open{SessionID: "alice-07e2d6c1b9a3f4e51", Command: []string{"ls", "-l"}}
	issued := time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.UTC)
	tok, err := SignGrant(o.Request(), "mi-0a1b2c3d4e5f60718", issued, 2*time.Minute, testSign)
	if err != nil {
		t.Fatal(err)
	}
	g, err := ParseGrant(tok)
	if err != nil {
		t.Fatal(err)
	}
	if g.Kind != GrantCommand || g.SessionID != o.SessionID || g.NodeID != "mi-0a1b2c3d4e5f60718" || g.Params != o.Request().Params {
		t.Errorf("grant says %+v", g)
	}
	if !g.IssuedAt.Equal(issued.Truncate(time.Millisecond)) || g.Expires.Sub(g.IssuedAt) != 2*time.Minute {
		t.Errorf("issued %v expires %v", g.IssuedAt, g.Expires)
	}
	if !ed25519.Verify(testGrantKey.Public().(ed25519.PublicKey), g.SignedMessage(), g.Signature) {
		t.Error("the signature does not verify over SignedMessage")
	}
	if !bytes.Equal(g.Marshal(), tok) {
		t.Error("the grant does not re-encode to its token")
	}
	again, _ := SignGrant(o.Request(), "mi-0a1b2c3d4e5f60718", issued, 2*time.Minute, testSign)
	if bytes.Equal(again, tok) {
		t.Error("two grants for the same request are the same: no nonce")
	}
	// Through JSON, as on the wire.
	o.Grant = tok
	b, _ := json.Marshal(o)
	var got Open
	if err := json.Unmarshal(b, &got); err != nil || !bytes.Equal(got.Grant, tok) || got.Request() != o.Request() {
		t.Errorf("through JSON: %v, grant kept %v, same request %v", err, bytes.Equal(got.Grant, tok), got.Request() == o.Request())
	}
}

func TestParseGrantRefuses(t *testing.T) {
	tok, err := SignGrant(Resume{SessionID: "s", AckedSeq: 9}.Request(), "mi-1", time.Now(), time.Minute, testSign)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(tok)) }
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "shorter than any grant"},
		{"version", edit(func(b []byte) []byte { b[0] = 2; return b }), "version 2"},
		{"kind", edit(func(b []byte) []byte { b[1] = 9; return b }), "unknown kind 9"},
		{"no node", edit(func(b []byte) []byte { return append(append(b[:2:2], 0), b[2+1+4:]...) }), "node id"},
		{"truncated", tok[:len(tok)-1], "certificate"},
		{"trailing", append(bytes.Clone(tok), 0), "certificate"},
		{"id past the end", edit(func(b []byte) []byte { b[2] = 255; return b }), "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseGrant(tt.b)
			if !errors.Is(err, ErrBadGrant) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseGrant = %v, want %v containing %q", err, ErrBadGrant, tt.want)
			}
		})
	}
}

func TestSignGrantRefuses(t *testing.T) {
	long := strings.Repeat("x", MaxGrantIDLen+1)
	req := Resume{SessionID: "s"}.Request()
	for _, tt := range []struct {
		name string
		req  Request
		node string
		ttl  time.Duration
	}{
		{"no node", req, "", time.Minute},
		{"long node", req, long, time.Minute},
		{"no session", Request{Kind: GrantResume}, "mi-1", time.Minute},
		{"long session", Resume{SessionID: long}.Request(), "mi-1", time.Minute},
		{"no lifetime", req, "mi-1", 0},
	} {
		if _, err := SignGrant(tt.req, tt.node, time.Now(), tt.ttl, testSign); err == nil {
			t.Errorf("%s: signed", tt.name)
		}
	}
}

// TestOpenRequestCoversEveryField guards against a field added to Open
// that the grant does not cover: the agent would act on it unsigned.
func TestOpenRequestCoversEveryField(t *testing.T) {
	checkCovers(t, Open{}, func(v any) Request { return v.(Open).Request() })
	checkCovers(t, Resume{}, func(v any) Request { return v.(Resume).Request() })
	checkCovers(t, Forward{}, func(v any) Request { return v.(Forward).Request() })
}

func checkCovers(t *testing.T, zero any, req func(any) Request) {
	t.Helper()
	base := req(zero)
	typ := reflect.TypeOf(zero)
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "Grant" {
			continue
		}
		v := reflect.New(typ).Elem()
		fv := v.Field(i)
		switch fv.Kind() {
		case reflect.String:
			fv.SetString("x")
		case reflect.Bool:
			fv.SetBool(true)
		case reflect.Int, reflect.Int64:
			fv.SetInt(1)
		case reflect.Uint64:
			fv.SetUint(1)
		case reflect.Slice:
			fv.Set(reflect.ValueOf([]string{""}))
		case reflect.Map:
			fv.Set(reflect.ValueOf(map[string]string{"": ""}))
		case reflect.Pointer:
			fv.Set(reflect.New(fv.Type().Elem())) // its fields: their own test
		default:
			t.Fatalf("%s.%s: a %s the test cannot set; teach it", typ.Name(), f.Name, fv.Kind())
		}
		if got := req(v.Interface()); got.Params == base.Params {
			t.Errorf("%s.%s does not change the grant's parameter hash", typ.Name(), f.Name)
		}
	}
}

// TestResumeEndedCovered: a late hand-over's reason and marker are signed,
// apart, and a resume without one hashes as before Ended existed, so agents
// that predate it still verify ordinary resumes.
func TestResumeEndedCovered(t *testing.T) {
	plain := Resume{SessionID: "s", AckedSeq: 3}
	reqs := map[[32]byte]string{plain.Request().Params: "no Ended"}
	for name, e := range map[string]*Ended{
		"empty":  {},
		"reason": {Reason: "x"},
		"marker": {Marker: "x"},
		"moved":  {Reason: "", Marker: "x\x00"},
	} {
		r := plain
		r.Ended = e
		p := r.Request().Params
		if other, dup := reqs[p]; dup {
			t.Errorf("Ended %s hashes as %s", name, other)
		}
		reqs[p] = name
	}
	// The hash of a resume as agents before Ended computed it.
	h := newParamHash("postern resume v1")
	h.str("s")
	h.u64(3)
	if plain.Request().Params != h.sum() {
		t.Error("a resume without Ended no longer hashes as it did: older agents would refuse every resume")
	}
}

// TestOpenRequestUnambiguous: values that a naive concatenation would
// confuse hash differently, and a map hashes the same in any order.
func TestOpenRequestUnambiguous(t *testing.T) {
	a := Open{Command: []string{"ab", "c"}}.Request()
	b := Open{Command: []string{"a", "bc"}}.Request()
	if a.Params == b.Params {
		t.Error(`["ab" "c"] and ["a" "bc"] hash the same`)
	}
	c := Open{RunAs: "x", ShellProfile: ""}.Request()
	d := Open{RunAs: "", ShellProfile: "x"}.Request()
	if c.Params == d.Params {
		t.Error("a value moved between fields hashes the same")
	}
	env := map[string]string{}
	for i := range 50 {
		env[strings.Repeat("k", i)] = strings.Repeat("v", i)
	}
	first := Open{Env: env}.Request()
	for range 20 {
		if (Open{Env: env}).Request() != first {
			t.Fatal("the same environment hashes differently")
		}
	}
	if (Open{}).Request().Kind != GrantShell || (Open{Command: []string{"id"}}).Request().Kind != GrantCommand {
		t.Error("Open's grant kind: shell without a command, command with one")
	}
	if (Open{SessionID: "s"}).Request() == (Resume{SessionID: "s"}).Request() {
		t.Error("an Open and a Resume of the same session have the same request")
	}
}

// FuzzParseGrant checks that no input makes the decoder panic, and that
// what it accepts re-encodes to its input.
func FuzzParseGrant(f *testing.F) {
	for _, req := range []Request{
		Open{SessionID: "alice-07e2d6c1b9a3f4e51", Command: []string{"ls"}}.Request(),
		Resume{SessionID: "alice-07e2d6c1b9a3f4e51", AckedSeq: 42}.Request(),
		Forward{SessionID: "alice-07e2d6c1b9a3f4e51", Port: 22}.Request(),
	} {
		tok, err := SignGrant(req, "mi-0a1b2c3d4e5f60718", time.Unix(1767225600, 0), 2*time.Minute, testSign)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseGrant(b)
		if err != nil {
			return
		}
		if !bytes.Equal(g.Marshal(), b) {
			t.Fatalf("grant %+v does not re-encode to its input", g)
		}
		if g.NodeID == "" || g.SessionID == "" || len(g.Signature) != GrantSignatureSize || len(g.Signer) == 0 || !g.Expires.After(g.IssuedAt) {
			t.Fatalf("accepted an incomplete grant %+v", g)
		}
	})
}

// TestOpenRequestWithoutTypedMarks: an Open that does not ask for typed
// marks hashes as it did before the field existed, so an agent older than
// it still accepts the grant. The value was computed by the code before.
func TestOpenRequestWithoutTypedMarks(t *testing.T) {
	o := Open{SessionID: "alice-0123456789abcdef0", Owner: "alice", RunAs: "ssm-user", Env: map[string]string{"TERM": "xterm"},
		Cols: 80, Rows: 24, IdleTimeout: time.Minute, ShellProfile: "echo hi"}
	if got, want := fmt.Sprintf("%x", o.Request().Params), "342289c1bc82de8fc701042fc110b739e104124368b081c8d4c683f13c9c817b"; got != want {
		t.Errorf("params %s, want %s as before TypedMarks", got, want)
	}
	o.TypedMarks = true
	if fmt.Sprintf("%x", o.Request().Params) == "342289c1bc82de8fc701042fc110b739e104124368b081c8d4c683f13c9c817b" {
		t.Error("asking for typed marks does not change the hash")
	}
}
