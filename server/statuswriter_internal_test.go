package server

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestStatusWriterHolds: an answer is held until release, and discard
// replaces it, headers included; one too large to hold, or flushed, goes
// out as written and can no longer be replaced.
func TestStatusWriterHolds(t *testing.T) {
	t.Run("held, then released", func(t *testing.T) {
		rec := httptest.NewRecorder()
		w := &statusWriter{ResponseWriter: rec, status: http.StatusOK, hold: true}
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte("made"))
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Flushed {
			t.Fatalf("answer went out before release: %d %q", rec.Code, rec.Body)
		}
		w.release()
		if rec.Code != http.StatusCreated || rec.Body.String() != "made" || w.status != http.StatusCreated {
			t.Fatalf("released %d %q (status %d), want 201 made", rec.Code, rec.Body, w.status)
		}
	})
	t.Run("held, then discarded", func(t *testing.T) {
		rec := httptest.NewRecorder()
		rec.Header().Set("X-Postern-Request-Id", "r1")
		w := &statusWriter{ResponseWriter: rec, status: http.StatusOK, hold: true}
		w.Header().Set("Set-Cookie", "postern_session=secret")
		w.Write([]byte("signed in"))
		if !w.discard() {
			t.Fatal("discard of a held answer reported it sent")
		}
		w.WriteHeader(http.StatusInsufficientStorage)
		w.Write([]byte("disk full"))
		w.release()
		if rec.Code != http.StatusInsufficientStorage || rec.Body.String() != "disk full" || w.status != http.StatusInsufficientStorage {
			t.Fatalf("got %d %q (status %d), want the replacement", rec.Code, rec.Body, w.status)
		}
		if rec.Header().Get("Set-Cookie") != "" || rec.Header().Get("X-Postern-Request-Id") != "r1" {
			t.Fatalf("headers %v: the discarded answer's cookie must go, the request id stay", rec.Header())
		}
	})
	t.Run("too large to hold", func(t *testing.T) {
		rec := httptest.NewRecorder()
		w := &statusWriter{ResponseWriter: rec, status: http.StatusOK, hold: true}
		big := bytes.Repeat([]byte("x"), maxHeld/2+1)
		w.Write(big)
		w.Write(big)
		if rec.Body.Len() != 2*len(big) {
			t.Fatalf("%d bytes out of %d written; an answer larger than maxHeld streams", rec.Body.Len(), 2*len(big))
		}
		if w.discard() {
			t.Fatal("discard of an answer that went out reported success")
		}
	})
	t.Run("flushed", func(t *testing.T) {
		rec := httptest.NewRecorder()
		w := &statusWriter{ResponseWriter: rec, status: http.StatusOK, hold: true}
		w.Write([]byte("line 1\n"))
		w.Flush()
		if rec.Body.String() != "line 1\n" || !rec.Flushed || w.discard() {
			t.Fatalf("a flush must send what was held: %q flushed %v", rec.Body, rec.Flushed)
		}
	})
}
