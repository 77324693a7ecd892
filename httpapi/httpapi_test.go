package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/store"
)

// guardFixture is a guard built from callbacks alone, with a caller whose
// token may be scoped, and what it was told of unchecked answers.
type guardFixture struct {
	g         *Guard
	scopes    []string
	admit     error
	unchecked []string // "refused" or "answered", per call
}

func newGuardFixture() *guardFixture {
	f := &guardFixture{}
	f.g = &Guard{
		Authenticate: func(r *http.Request) (Caller, error) {
			if r.Header.Get("Authorization") != "Bearer good" {
				return Caller{}, Errorf(http.StatusUnauthorized, api.CodeUnauthenticated, "not signed in")
			}
			return Caller{Account: store.DefaultAccount, User: store.User{Name: "alice"}, Token: store.Token{ID: "t-1", Scopes: f.scopes}}, nil
		},
		Admit: func(*http.Request) error { return f.admit },
		WriteError: func(w http.ResponseWriter, r *http.Request, err error) {
			var e *Error
			if !errors.As(err, &e) {
				e = Errorf(http.StatusInternalServerError, api.CodeInternalError, "internal error")
			}
			WriteJSON(w, e.Status, api.Error{Code: e.Code, Message: e.Msg})
		},
		Unchecked: func(r *http.Request, action authz.Action, refused bool) {
			if refused {
				f.unchecked = append(f.unchecked, "refused")
			} else {
				f.unchecked = append(f.unchecked, "answered")
			}
		},
	}
	return f
}

func (f *guardFixture) call(t *testing.T, h func(http.ResponseWriter, *http.Request) error, token string) (int, string) {
	t.Helper()
	mux := f.g.Mux([]Route{{Pattern: "GET /v1/thing", Action: authz.DescribeNodes, Handler: h}})
	req := httptest.NewRequest("GET", "/v1/thing", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func codeOf(t *testing.T, body string) string {
	t.Helper()
	var e api.Error
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e.Code
}

// TestGuardAlone: the guard lets an answer out only after its handler
// checked authorization; errors pass before; a scoped token, an
// unauthenticated caller and an admission refusal never reach the handler.
func TestGuardAlone(t *testing.T) {
	secret := func(check bool) func(http.ResponseWriter, *http.Request) error {
		return func(w http.ResponseWriter, r *http.Request) error {
			if check {
				CallerOf(r).Checked()
			}
			WriteJSON(w, http.StatusOK, "the secret")
			return nil
		}
	}
	reached := false
	notFound := func(w http.ResponseWriter, r *http.Request) error {
		reached = true
		return Errorf(http.StatusNotFound, api.CodeSessionNotFound, "no such thing")
	}

	t.Run("a checked answer goes out", func(t *testing.T) {
		f := newGuardFixture()
		if code, body := f.call(t, secret(true), "good"); code != http.StatusOK || !strings.Contains(body, "the secret") {
			t.Errorf("checked handler: %d %s", code, body)
		}
		if len(f.unchecked) != 0 {
			t.Errorf("told of unchecked answers %v", f.unchecked)
		}
	})
	t.Run("an unchecked answer is refused", func(t *testing.T) {
		f := newGuardFixture()
		code, body := f.call(t, secret(false), "good")
		if code != http.StatusInternalServerError || strings.Contains(body, "the secret") || codeOf(t, body) != api.CodeInternalError {
			t.Errorf("unchecked handler: %d %s", code, body)
		}
		if len(f.unchecked) != 1 || f.unchecked[0] != "refused" {
			t.Errorf("told of unchecked answers %v, want one refused", f.unchecked)
		}
	})
	t.Run("an error passes before a check", func(t *testing.T) {
		f := newGuardFixture()
		if code, body := f.call(t, notFound, "good"); code != http.StatusNotFound || codeOf(t, body) != api.CodeSessionNotFound {
			t.Errorf("error: %d %s", code, body)
		}
	})
	t.Run("a handler that answers nothing unchecked is told of", func(t *testing.T) {
		f := newGuardFixture()
		f.call(t, func(http.ResponseWriter, *http.Request) error { return nil }, "good")
		if len(f.unchecked) != 1 || f.unchecked[0] != "answered" {
			t.Errorf("told of unchecked answers %v, want one", f.unchecked)
		}
	})
	t.Run("no token", func(t *testing.T) {
		f := newGuardFixture()
		reached = false
		if code, body := f.call(t, notFound, ""); code != http.StatusUnauthorized || codeOf(t, body) != api.CodeUnauthenticated || reached {
			t.Errorf("no token: %d %s (handler reached: %v)", code, body, reached)
		}
	})
	t.Run("a token scoped to other actions", func(t *testing.T) {
		f := newGuardFixture()
		f.scopes = []string{string(authz.StartSession)}
		reached = false
		if code, body := f.call(t, notFound, "good"); code != http.StatusForbidden || codeOf(t, body) != api.CodeAccessDenied || reached {
			t.Errorf("scoped token: %d %s (handler reached: %v)", code, body, reached)
		}
	})
	t.Run("admission refused", func(t *testing.T) {
		f := newGuardFixture()
		f.admit = Errorf(http.StatusInsufficientStorage, api.CodeDiskFull, "the disk is full")
		reached = false
		if code, body := f.call(t, notFound, "good"); code != http.StatusInsufficientStorage || codeOf(t, body) != api.CodeDiskFull || reached {
			t.Errorf("admission: %d %s (handler reached: %v)", code, body, reached)
		}
	})
}

// TestUncheckedUpgradeIsRefused: a WebSocket (or any hijack) is an
// answer too: without a check the connection is not handed over.
func TestUncheckedUpgradeIsRefused(t *testing.T) {
	f := newGuardFixture()
	var hijackErr error
	srv := httptest.NewServer(f.g.Mux([]Route{{Pattern: "GET /v1/stream", Action: authz.ResumeSession, Handler: func(w http.ResponseWriter, r *http.Request) error {
		_, _, hijackErr = http.NewResponseController(w).Hijack()
		return nil
	}}}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer good")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !errors.Is(hijackErr, ErrUnchecked) || resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("unchecked hijack: %v, answered %d; want ErrUnchecked and 500", hijackErr, resp.StatusCode)
	}
}
