package s3logs

import (
	"fmt"
	"net"
	"strings"
	"unicode/utf8"
)

// maxKeyLen is S3's limit on an object key, in bytes of UTF-8.
const maxKeyLen = 1024

// Key returns the object key Put uses for name under t.Prefix:
// "<prefix>/<name>", or name when the prefix is empty. One trailing slash
// of the prefix is dropped ("logs/" and "logs" give the same keys).
//
// Prefix and name are refused (the error wraps ErrInvalidKey) when the
// key would escape the prefix or read differently to different tools: a
// leading "/", an empty segment ("a//b", or a name ending in "/"), a "."
// or ".." segment, a backslash, control characters, invalid UTF-8, or a
// key longer than 1024 bytes. The name may contain "/" to make
// sub-folders under the prefix.
func Key(t Target, name string) (string, error) {
	prefix := t.Prefix
	if strings.HasPrefix(prefix, "/") {
		return "", keyError("s3KeyPrefix", prefix, `starts with "/"; S3 keys have no leading slash (write %q)`, strings.TrimLeft(prefix, "/"))
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if err := checkKeyPath("s3KeyPrefix", t.Prefix, prefix); err != nil {
		return "", err
	}
	if name == "" {
		return "", keyError("name", name, "is empty")
	}
	if strings.HasPrefix(name, "/") {
		return "", keyError("name", name, `starts with "/"`)
	}
	if err := checkKeyPath("name", name, name); err != nil {
		return "", err
	}
	key := name
	if prefix != "" {
		key = prefix + "/" + name
	}
	if len(key) > maxKeyLen {
		return "", fmt.Errorf("%w: key %.40q... is %d bytes long; S3 allows %d", ErrInvalidKey, key, len(key), maxKeyLen)
	}
	return key, nil
}

func keyError(what, value, format string, args ...any) error {
	return fmt.Errorf("%w: %s %q %s", ErrInvalidKey, what, value, fmt.Sprintf(format, args...))
}

// checkKeyPath checks p (shown to people as orig) segment by segment.
func checkKeyPath(what, orig, p string) error {
	if p == "" {
		return nil
	}
	if !utf8.ValidString(p) {
		return keyError(what, orig, "is not valid UTF-8")
	}
	for _, r := range p {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return keyError(what, orig, "contains a control character")
		case r == '\\':
			return keyError(what, orig, `contains a backslash, which some tools read as a path separator`)
		}
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "":
			if what == "name" && strings.HasSuffix(p, "/") {
				return keyError(what, orig, `ends with "/"`)
			}
			return keyError(what, orig, `has an empty path segment ("//")`)
		case ".", "..":
			return keyError(what, orig, "has a %q segment, which could escape the prefix or be read differently by other tools", seg)
		}
	}
	return nil
}

// CheckBucketName checks name against S3's rules for general purpose
// bucket names (3–63 characters; lowercase letters, digits, dots and
// hyphens; starting and ending with a letter or digit; not an IP address;
// no reserved prefix or suffix). The error, which wraps
// ErrInvalidBucketName, names the rule broken. It does not check the
// addressing-dependent rule about dots: Client.Check does.
func CheckBucketName(name string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidBucketName, name, fmt.Sprintf(format, args...))
	}
	lower := strings.ToLower(name)
	switch {
	case name == "":
		return fmt.Errorf("%w: no bucket name (s3BucketName is empty)", ErrInvalidBucketName)
	case strings.HasPrefix(lower, "s3://"), strings.HasPrefix(lower, "https://"), strings.HasPrefix(lower, "http://"):
		return bad("s3BucketName must be the bucket's name, not a URL; put any folder in s3KeyPrefix")
	case strings.HasPrefix(lower, "arn:"):
		return bad("s3BucketName must be the bucket's name, not an ARN")
	case strings.Contains(name, "/"):
		return bad(`bucket names cannot contain "/"; put the folder in s3KeyPrefix`)
	case len(name) < 3 || len(name) > 63:
		return bad("bucket names must be 3 to 63 characters long, not %d", len(name))
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-':
		case r >= 'A' && r <= 'Z':
			if CheckBucketName(lower) == nil {
				return bad("bucket names must be lowercase (did you mean %q?)", lower)
			}
			return bad("bucket names must be lowercase")
		case r == '_':
			return bad("bucket names cannot contain underscores; use hyphens")
		case r == ' ':
			return bad("bucket names cannot contain spaces")
		default:
			return bad("bucket names may contain only lowercase letters, digits, dots and hyphens, not %q", r)
		}
	}
	first, last := name[0], name[len(name)-1]
	if !isAlnum(first) || !isAlnum(last) {
		return bad("bucket names must begin and end with a letter or digit")
	}
	if strings.Contains(name, "..") {
		return bad("bucket names cannot contain two adjacent dots")
	}
	if strings.Contains(name, ".-") || strings.Contains(name, "-.") {
		return bad("each dot-separated part of a bucket name must begin and end with a letter or digit")
	}
	if ip := net.ParseIP(name); ip != nil {
		return bad("bucket names cannot be formatted as an IP address")
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return bad("bucket names cannot start with %q (reserved)", p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return bad("bucket names cannot end with %q (reserved)", s)
		}
	}
	return nil
}

func isAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9'
}

// checkBucketName adds to CheckBucketName the rule that depends on the
// client: a name with dots cannot be a TLS host name under
// virtual-hosted-style addressing.
func (c *Client) checkBucketName(bucket string) (reason string, err error) {
	if err := CheckBucketName(bucket); err != nil {
		return err.Error(), err
	}
	if strings.Contains(bucket, ".") && !c.pathStyle && c.https {
		host := bucket + ".s3." + c.region + ".amazonaws.com"
		wildcard := "*.s3." + c.region + ".amazonaws.com"
		if c.endpoint != "" {
			h := strings.TrimPrefix(strings.TrimPrefix(c.endpoint, "https://"), "//")
			if i := strings.IndexAny(h, ":/"); i >= 0 {
				h = h[:i]
			}
			host, wildcard = bucket+"."+h, "*."+h
		}
		reason := fmt.Sprintf("S3 bucket name %s contains dots, which virtual-hosted-style addressing over TLS cannot use: "+
			"the host name %s does not match the certificate's %s. "+
			"Use path-style addressing for this S3 destination (forcePathStyle), or a bucket name without dots.",
			bucket, host, wildcard)
		return reason, fmt.Errorf("%w %q: contains dots and the client uses virtual-hosted-style addressing over TLS", ErrInvalidBucketName, bucket)
	}
	return "", nil
}
