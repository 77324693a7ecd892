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
