package ids

import "testing"

func TestNewIDsAreValid(t *testing.T) {
	for i := 0; i < 100; i++ {
		if n := NewNode(); !ValidNode(n) {
			t.Fatalf("NewNode() = %q, not valid", n)
		}
		if s := NewSession("alice"); !ValidSession(s) || SessionOwner(s) != "alice" {
			t.Fatalf("NewSession(alice) = %q", s)
		}
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		fn   func(string) bool
		in   string
		want bool
	}{
		{"node ok", ValidNode, "mi-0a1b2c3d4e5f60718", true},
		{"node upper hex", ValidNode, "mi-0A1B2C3D4E5F60718", false},
		{"node short", ValidNode, "mi-0a1b2c3d4e5f6071", false},
		{"session ok", ValidSession, "alice-07e2d6c1b9a3f4e51", true},
		{"session dashed user", ValidSession, "jean-luc-07e2d6c1b9a3f4e51", true},
		{"session no user", ValidSession, "-07e2d6c1b9a3f4e51", false},
		{"session path", ValidSession, "../x-07e2d6c1b9a3f4e51", false},
		{"account ok", ValidAccount, "000000000001", true},
		{"account short", ValidAccount, "1", false},
		{"user slash", ValidUser, "a/b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.fn(tt.in); got != tt.want {
				t.Errorf("(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
	if got := UserARN("000000000001", "alice"); got != "prn:postern:iam:000000000001:user/alice" {
		t.Errorf("UserARN = %q", got)
	}
	// The forms DESIGN.md gives, which key policies name.
	if got := LogGroupARN("000000000001", "ssm-secure-consolelog-group"); got != "prn:postern:logs:000000000001:log-group/ssm-secure-consolelog-group" {
		t.Errorf("LogGroupARN = %q", got)
	}
	if got := KeyARN("000000000001", "1234abcd-12ab-34cd-56ef-1234567890ab"); got != "prn:postern:kms:000000000001:key/1234abcd-12ab-34cd-56ef-1234567890ab" {
		t.Errorf("KeyARN = %q", got)
	}
}

func TestOrganizationIDs(t *testing.T) {
	for range 100 {
		org, root := NewOrganization()
		if !ValidOrganization(org) || !ValidOrgRoot(root) {
			t.Fatalf("NewOrganization() = %q, %q", org, root)
		}
		if ou := NewOrgUnit(root); !ValidOrgUnit(ou) || ou[3:7] != root[2:] {
			t.Fatalf("NewOrgUnit(%q) = %q", root, ou)
		}
		if a := NewAccount(); !ValidAccount(a) || a[0] == '0' {
			t.Fatalf("NewAccount() = %q", a)
		}
	}
	for _, bad := range []string{"", "o-", "o-ABCDEFGHIJ", "o-abcdefghijk", "ou-ab12-abcdefgh "} {
		if ValidOrganization(bad) || ValidOrgUnit(bad) || ValidOrgRoot(bad) {
			t.Errorf("%q passed as an organization id", bad)
		}
	}
}
