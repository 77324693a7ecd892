package postgres_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/store"
	"github.com/postern/postern/store/postgres"
	"github.com/postern/postern/store/postgres/pgtest"
)

// BenchmarkStores runs the store operations a server does most often
// (every API call's token lookup and audit record, every session's
// creation and updates) against SQLite on a file and PostgreSQL on a
// local Unix socket, for a first idea of what moving to PostgreSQL costs
// one server. The test server runs with fsync off: commits cost less
// than on a real one.
//
//	go test -run=NONE -bench=Stores -benchtime=2000x ./store/postgres
func BenchmarkStores(b *testing.B) {
	for _, kind := range []string{"sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			var s store.Store
			var err error
			if kind == "sqlite" {
				s, err = store.OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "postern.db"))
			} else {
				s, err = postgres.Open(b.Context(), pgtest.NewDatabase(b))
			}
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := b.Context()
			if err := s.EnsureAccount(ctx, store.Account{ID: store.DefaultAccount, Name: "default"}); err != nil {
				b.Fatal(err)
			}
			if err := s.CreateUser(ctx, store.User{Account: store.DefaultAccount, Name: "admin"}); err != nil {
				b.Fatal(err)
			}
			hash := strings.Repeat("ab", 32)
			if err := s.CreateToken(ctx, store.Token{Hash: hash, Account: store.DefaultAccount, User: "admin", CreatedAt: t0}); err != nil {
				b.Fatal(err)
			}
			b.Run("GetToken", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.GetToken(ctx, hash, t0); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("AppendAudit", func(b *testing.B) {
				link := func(r store.AuditRecord) []byte { return []byte(fmt.Sprint(r.Seq)) }
				for b.Loop() {
					if _, err := s.AppendAudit(ctx, store.AuditRecord{Time: t0, Actor: "admin", Action: "GET /v1/nodes"}, link); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("SessionLifecycle", func(b *testing.B) {
				i := 0
				for b.Loop() {
					i++
					se := store.Session{ID: fmt.Sprintf("admin-%017x", i), Account: store.DefaultAccount, Owner: "admin", Target: "mi-1", Status: store.StatusConnecting, StartedAt: t0}
					if err := s.CreateSession(ctx, se); err != nil {
						b.Fatal(err)
					}
					se.Status, se.EndedAt = store.StatusTerminated, t0.Add(time.Minute)
					if err := s.UpdateSession(ctx, se); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
