package authn

import (
	"errors"
	"testing"
)

func TestPassword(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPassword(h, "correct horse"); err != nil {
		t.Errorf("right password: %v", err)
	}
	if err := CheckPassword(h, "wrong"); !errors.Is(err, ErrMismatch) {
		t.Errorf("wrong password: got %v, want ErrMismatch", err)
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=99999999,t=1,p=1$AA$AA", h[:len(h)-3] + "!!!"} {
		if err := CheckPassword(bad, "x"); err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("CheckPassword(%q) = %v, want a format error", bad, err)
		}
	}
}

func TestSecrets(t *testing.T) {
	a, b := NewSecret("pst_"), NewSecret("pst_")
	if a == b || len(a) < 30 {
		t.Fatalf("secrets %q %q", a, b)
	}
	if !EqualHash(HashSecret(a), HashSecret(a)) || EqualHash(HashSecret(a), HashSecret(b)) {
		t.Fatal("hash comparison wrong")
	}
}

func FuzzCheckPassword(f *testing.F) {
	h, _ := HashPassword("pw")
	f.Add(h, "pw")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$a2V5", "x")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		_ = CheckPassword(hash, pw) // must not panic or allocate without bound
	})
}
