// Package ids makes and checks Postern's identifiers: managed node ids
// (mi-<17 hex>), session ids (<user>-<17 hex>), account ids (12 digits) and
// resource names (prn:postern:<service>:<account>:<type>/<name>).
package ids

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/postern/postern/lazyregexp"
)

var (
	nodeRE    = lazyregexp.New(`^mi-[0-9a-f]{17}$`)
	sessionRE = lazyregexp.New(`^[A-Za-z0-9_.@+=,-]{1,64}-[0-9a-f]{17}$`)
	accountRE = lazyregexp.New(`^[0-9]{12}$`)
	// UserRE is what a user name may be: it prefixes session ids and
	// appears in resource names.
	UserRE = lazyregexp.New(`^[A-Za-z0-9_.@+=,-]{1,64}$`)
)

func hex17() string {
	var b [9]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("ids: crypto/rand failed: " + err.Error()) // does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])[:17]
}

// NewNode returns a fresh managed node id.
func NewNode() string { return "mi-" + hex17() }

// NewSession returns a fresh session id for user.
func NewSession(user string) string { return user + "-" + hex17() }

// ValidNode reports whether id is a managed node id.
func ValidNode(id string) bool { return nodeRE.MatchString(id) }

// ValidSession reports whether id is a session id.
func ValidSession(id string) bool { return sessionRE.MatchString(id) }

// ValidAccount reports whether id is an account id.
func ValidAccount(id string) bool { return accountRE.MatchString(id) }

// ValidUser reports whether name may be a user name.
func ValidUser(name string) bool { return UserRE.MatchString(name) }

// UserARN is a user's resource name, the identity that fills
// userIdentity.arn in session logs.
func UserARN(account, user string) string {
	return fmt.Sprintf("prn:postern:iam:%s:user/%s", account, user)
}

// ARN builds a resource name.
func ARN(service, account, typ, name string) string {
	return fmt.Sprintf("prn:postern:%s:%s:%s/%s", service, account, typ, name)
}

// Organization ids, as AWS Organizations forms them: o- and 10, a root r-
// and 4, an organizational unit ou-, its root's 4, - and 8 lowercase
// letters and digits.
var (
	orgRE     = lazyregexp.New(`^o-[a-z0-9]{10}$`)
	orgRootRE = lazyregexp.New(`^r-[a-z0-9]{4}$`)
	orgUnitRE = lazyregexp.New(`^ou-[a-z0-9]{4}-[a-z0-9]{8}$`)
)

// base36 returns n random lowercase letters and digits.
func base36(n int) string {
	const digits = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("ids: crypto/rand failed: " + err.Error())
	}
	for i := range b {
		b[i] = digits[int(b[i])%len(digits)] // 256 = 7*36+4: a bias too small to matter for ids
	}
	return string(b)
}

// NewOrganization returns a fresh organization id and its root's id.
func NewOrganization() (org, root string) { return "o-" + base36(10), "r-" + base36(4) }

// NewOrgUnit returns a fresh id for a unit of the organization with root.
func NewOrgUnit(root string) string {
	return "ou-" + strings.TrimPrefix(root, "r-") + "-" + base36(8)
}

// NewAccount returns a fresh account id: 12 digits, never the default
// account's few leading zeros.
func NewAccount() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("ids: crypto/rand failed: " + err.Error())
	}
	n := uint64(0)
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return fmt.Sprintf("%012d", 100000000000+n%900000000000)
}

// ValidOrganization, ValidOrgRoot and ValidOrgUnit check those ids.
func ValidOrganization(id string) bool { return orgRE.MatchString(id) }
func ValidOrgRoot(id string) bool      { return orgRootRE.MatchString(id) }
func ValidOrgUnit(id string) bool      { return orgUnitRE.MatchString(id) }

// AssumedRoleARN names who acts through a role assumed in account: the
// role, and the user of the source account who assumed it, as AWS names
// an assumed role's session.
func AssumedRoleARN(account, role, sourceAccount, sourceUser string) string {
	return fmt.Sprintf("prn:postern:sts:%s:assumed-role/%s/%s@%s", account, role, sourceUser, sourceAccount)
}

// LogGroupARN is a log group's resource name
// (prn:postern:logs:ACCOUNT:log-group/NAME), which key policies' conditions
// on kms:EncryptionContext:aws:logs:arn name.
func LogGroupARN(account, name string) string { return ARN("logs", account, "log-group", name) }

// KeyARN is a key's resource name (prn:postern:kms:ACCOUNT:key/ID).
func KeyARN(account, id string) string { return ARN("kms", account, "key", id) }

// SessionOwner returns the user part of a session id.
func SessionOwner(id string) string {
	i := strings.LastIndexByte(id, '-')
	if i < 0 {
		return ""
	}
	return id[:i]
}
