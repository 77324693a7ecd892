package document

import (
	"fmt"
	"strings"

	"github.com/postern/postern/lazyregexp"
)

var nameRE = lazyregexp.New(`^[a-zA-Z0-9_.-]{3,128}$`)

// reservedPrefixes start the names of built-in documents: Postern's own, and
// Session Manager's, which Builtin answers to so that migrated scripts work.
var reservedPrefixes = []string{"Postern-", "AWS-", "SSM-"}

// ValidName reports whether name can name a document that a user creates:
// 3–128 letters, digits, '_', '.' and '-', as Session Manager allows, and not
// starting with a prefix reserved for built-in documents.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("document name %s is not valid: use 3–128 letters, digits, '_', '.' and '-'", quoteShort(name))
	}
	for _, p := range reservedPrefixes {
		// Case does not matter: aws-StartSSHSession would fool people too.
		if len(name) >= len(p) && strings.EqualFold(name[:len(p)], p) {
			return fmt.Errorf("document name %q is not valid: names starting with %q are reserved for built-in documents", name, p)
		}
	}
	return nil
}

// ValidUserName reports whether name can name a run-as user
// (runAsDefaultUser, or a user's runAs attribute): 1–64 letters, digits,
// '_', '.', '@' and '-', starting with a letter or '_', so that no Unix
// rejects it and it cannot be taken for an option (-x) or a uid (1000).
func ValidUserName(name string) error {
	if !userRE.MatchString(name) {
		return fmt.Errorf("%s is not a valid user name: 1–64 letters, digits, '_', '.', '@' and '-', starting with a letter or '_'", quoteShort(name))
	}
	return nil
}

// ValidKeyID reports whether s can name a key, as kmsKeyId does: a key id,
// key ARN, alias name (alias/...) or alias ARN, of AWS KMS or of Postern's
// key service (prn:postern:kms:ACCOUNT:key/ID).
func ValidKeyID(s string) error {
	if !kmsKeyRE.MatchString(s) {
		return fmt.Errorf("%s is not a KMS key id, key ARN, alias name (alias/...) or alias ARN", quoteShort(s))
	}
	return nil
}

// ValidBucketName reports whether b is a valid S3 bucket name.
func ValidBucketName(b string) error {
	if !bucketRE.MatchString(b) || strings.Contains(b, "..") || ipv4RE.MatchString(b) {
		return fmt.Errorf("%s is not a valid bucket name: 3–63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit", quoteShort(b))
	}
	return nil
}

// ValidKeyPrefix reports whether p is a valid S3 key prefix.
func ValidKeyPrefix(p string) error {
	if !validKeyPrefix(p) {
		return fmt.Errorf("%s is not a valid key prefix: up to 1024 letters, digits and !-_.*'()=, in parts separated by single slashes, not starting with one", quoteShort(p))
	}
	return nil
}
