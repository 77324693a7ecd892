package sso

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/oauth2"
)

// A login is bound to whoever started it, so that nobody can start a login
// and have someone else finish it (login CSRF, RFC 9700 section 4.7), nor
// redeem a hand-off code that leaked from someone else's browser:
//
//   - The browser that starts a login gets a random secret in a cookie
//     (BindingCookie), and the pending login keeps the secret's S256 hash.
//     The provider's redirect back to the callback is accepted only from a
//     browser whose cookie holds that secret: a callback URL made by an
//     attacker's login and opened in a victim's browser is refused, and so
//     is a victim's callback replayed by someone else.
//   - The client that will redeem the hand-off code is bound too, as PKCE
//     (RFC 7636) binds a client to its authorization code: the CLI keeps a
//     verifier and sends its S256 challenge to PathStart, and the hand-off
//     code is good only with that verifier. The web console, which never
//     sees a verifier, redeems its code in the same browser, with the same
//     cookie.

// BindingCookie holds the binding secrets of the logins the browser has
// started, newest first, separated by dots. The __Host- prefix keeps it to
// this host: a neighbouring subdomain cannot plant one of its own (cookie
// tossing) and so choose which login a browser may finish. It is HttpOnly,
// Secure and SameSite=Lax: Lax, because the provider's redirect back is a
// cross-site top-level GET, which Strict would leave without it.
const BindingCookie = "__Host-postern_sso"

// maxBindings bounds the secrets the cookie keeps: enough for a few
// sign-ins in flight in one browser (two tabs, the console and the CLI),
// while a page that starts login after login only pushes old ones out.
const maxBindings = 4

// Errors of binding.
var (
	// ErrOtherBrowser is a callback from a browser that did not start the
	// login: it lacks the login's binding cookie.
	ErrOtherBrowser = errors.New("sso: this browser did not start the login (its binding cookie is missing or belongs to other logins)")
	// ErrNoChallenge is a login for a client that redeems its own code
	// (a loopback redirect, the CLI) without a code_challenge.
	ErrNoChallenge = errors.New("sso: a sign-in sent back to a loopback address (the CLI) must bind its code with code_challenge, the S256 hash of a code verifier it keeps")
	// ErrBadChallenge is a code_challenge that is not an S256 one, or one
	// given where the browser is the binding (the console's path).
	ErrBadChallenge = errors.New("sso: bad code_challenge")
)

// s256 is the challenge of a verifier: BASE64URL(SHA-256(verifier)) without
// padding, as in PKCE.
func s256(verifier string) string { return oauth2.S256ChallengeFromVerifier(verifier) }

// checkChallenge checks a client's code_challenge: exactly 43 characters of
// base64url, the encoding of a SHA-256 hash.
func checkChallenge(c string) error {
	if len(c) != 43 {
		return fmt.Errorf("%w: it must be 43 characters of base64url (the S256 hash of the verifier), not %d", ErrBadChallenge, len(c))
	}
	for i := 0; i < len(c); i++ {
		if !isBase64URL(c[i]) {
			return fmt.Errorf("%w: byte %#02x is not base64url", ErrBadChallenge, c[i])
		}
	}
	return nil
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// isBindingSecret tells a secret Begin made (rand.Text: 26 characters of
// base32) from anything else a cookie may carry.
func isBindingSecret(s string) bool {
	if len(s) != 26 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// BrowserSecrets returns the binding secrets r's cookie holds, newest
// first: at most maxBindings, well-formed ones only.
func BrowserSecrets(r *http.Request) []string {
	c, err := r.Cookie(BindingCookie)
	if err != nil {
		return nil
	}
	var out []string
	for s := range strings.SplitSeq(c.Value, ".") {
		if len(out) == maxBindings {
			break
		}
		if isBindingSecret(s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// setBrowserSecrets makes the browser keep secrets in its cookie, for as
// long as a login lasts, or clears the cookie when there are none.
func setBrowserSecrets(w http.ResponseWriter, secrets []string) {
	c := &http.Cookie{Name: BindingCookie, Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode}
	if len(secrets) == 0 {
		c.MaxAge = -1
	} else {
		c.Value = strings.Join(secrets, ".")
		c.MaxAge = int(loginTTL.Seconds())
	}
	http.SetCookie(w, c)
}

// addBrowserSecret adds secret, newest first, to the ones r's cookie holds.
func addBrowserSecret(w http.ResponseWriter, r *http.Request, secret string) {
	secrets := append([]string{secret}, BrowserSecrets(r)...)
	setBrowserSecrets(w, secrets[:min(len(secrets), maxBindings)])
}

// forgetBrowserSecret drops secret, which has served, from r's cookie.
func forgetBrowserSecret(w http.ResponseWriter, r *http.Request, secret string) {
	secrets := BrowserSecrets(r)
	if i := slices.Index(secrets, secret); i >= 0 {
		setBrowserSecrets(w, slices.Delete(secrets, i, i+1))
	}
}
