package sso

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ErrBadRedirect is a client redirect that CheckClientRedirect refuses.
var ErrBadRedirect = errors.New("sso: redirect must be http://127.0.0.1:PORT/..., http://[::1]:PORT/..., http://localhost:PORT/... or a path on this server")

// maxRedirectLen bounds a client redirect: Begin keeps it in memory for
// anyone who asks, so its size must not be theirs to choose.
const maxRedirectLen = 1024

// CheckClientRedirect checks where a finished login may send the user, and
// returns it in canonical form. That is either the CLI's listener, an http
// URL with a port on 127.0.0.1, [::1] or localhost (RFC 8252's loopback
// redirect), or a path on this server beginning with a single "/" (the web
// console). Anything else would let a link to /v1/sso/start deliver
// someone's sign-in, and the hand-off code for their token, to another site.
func CheckClientRedirect(s string) (string, error) {
	bad := func(why string, args ...any) (string, error) {
		return "", fmt.Errorf("%w (%q %s)", ErrBadRedirect, s, fmt.Sprintf(why, args...))
	}
	if s == "" {
		return bad("is empty")
	}
	if len(s) > maxRedirectLen {
		return "", fmt.Errorf("%w (it is longer than %d bytes)", ErrBadRedirect, maxRedirectLen)
	}
	// Browsers drop tabs and newlines from URLs and read a backslash as
	// a slash, so "/\evil.example" or "/<TAB>/evil.example" would take
	// the user off this server. Rather than guess every browser's
	// reading, allow only printable ASCII with no backslash: a real
	// redirect has its other bytes percent-encoded.
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return bad("has byte %#02x", c)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad("is not a URL")
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return bad("has a #fragment")
	}

	if u.Scheme == "" && u.Host == "" && u.Opaque == "" && u.User == nil {
		// "//host/path" is a URL on another host, not a path.
		if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
			return bad("is neither a path beginning with one / nor a loopback URL")
		}
		return u.String(), nil
	}

	if u.Scheme != "http" || u.Host == "" || u.Opaque != "" {
		return bad("is not an http:// loopback URL")
	}
	if u.User != nil {
		return bad("has a user name")
	}
	host := u.Hostname()
	switch {
	case host == "127.0.0.1", host == "::1":
	case strings.EqualFold(host, "localhost"):
		host = "localhost"
	default:
		return bad("is not on 127.0.0.1, [::1] or localhost")
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil || port < 1 || port > 65535 {
		return bad("has no port between 1 and 65535")
	}
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	return u.String(), nil
}
