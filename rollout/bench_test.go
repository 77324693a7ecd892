package rollout_test

import (
	"fmt"
	"testing"

	"github.com/postern/postern/rollout"
	"github.com/postern/postern/stacktemplate"
	"github.com/postern/postern/store"
)

// BenchmarkApply: deploying the test template into a new account (a key,
// an alias, a sealed log group, the preferences, a policy), and applying
// it again to an account that has it (reads only).
func BenchmarkApply(b *testing.B) {
	e := newEnv(b)
	ctx := b.Context()
	b.Run("new account", func(b *testing.B) {
		for i := range b.N {
			account := fmt.Sprintf("5%011d", i)
			if err := e.st.EnsureAccount(ctx, store.Account{ID: account, Name: "bench"}); err != nil {
				b.Fatal(err)
			}
			rs, err := e.tmpl.Render(stacktemplate.Env{AccountID: account, Region: "local", StackName: "Baseline", PhysicalIDs: map[string]string{"Key": fmt.Sprintf("0d2f6a4e-8c1b-4e7a-9f3d-%012d", i)}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.a.Apply(ctx, account, rollout.By("Baseline"), rs, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		rs, err := e.tmpl.Render(stacktemplate.Env{AccountID: acct, Region: "local", StackName: "Baseline", PhysicalIDs: map[string]string{"Key": keyID}}, nil)
		if err != nil {
			b.Fatal(err)
		}
		ds, err := e.a.Apply(ctx, acct, rollout.By("Baseline"), rs, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := e.a.Apply(ctx, acct, rollout.By("Baseline"), rs, ds); err != nil {
				b.Fatal(err)
			}
		}
	})
}
