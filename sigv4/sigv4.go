// Package sigv4 verifies AWS Signature Version 4 on requests to Postern's
// AWS-compatible APIs (Session Manager's and CloudWatch Logs'), so that
// the AWS CLI and SDKs authenticate with access keys Postern issued, as
// they do with AWS.
//
// It implements the header form of the signature (Authorization:
// AWS4-HMAC-SHA256 ...), which is what the CLI and SDKs send; presigned
// URLs (X-Amz-Signature in the query) are refused with a clear error.
// Errors carry the code AWS answers with (InvalidSignatureException,
// UnrecognizedClientException, ...), for the caller to return in AWS's
// error shape.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// MaxSkew is how far a request's time may be from the server's, as AWS
// allows.
const MaxSkew = 15 * time.Minute

// Algorithm is the only signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

const amzDateFormat = "20060102T150405Z"

// Error is a refused request, with the AWS error code to answer with.
type Error struct {
	Code    string // e.g. InvalidSignatureException
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// AWS's error codes for authentication failures.
const (
	CodeMissingAuthentication = "MissingAuthenticationTokenException"
	CodeIncompleteSignature   = "IncompleteSignatureException"
	CodeInvalidSignature      = "InvalidSignatureException"
	CodeUnrecognizedClient    = "UnrecognizedClientException"
)

func fail(code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrUnknownKey is what a Lookup returns for an access key it does not
// know (or that is disabled or deleted).
var ErrUnknownKey = errors.New("sigv4: unknown access key")

// Lookup returns the secret of an access key, and what the caller
// associates with it (its user), or ErrUnknownKey.
type Lookup[P any] func(accessKeyID string) (secret string, principal P, err error)

// Credential is a signature's scope: who signed, for which day, region
// and service.
type Credential struct {
	AccessKeyID, Date, Region, Service string
}

// Verified is a request whose signature checks out.
type Verified[P any] struct {
	Credential    Credential
	SignedHeaders []string
	Principal     P
	Time          time.Time // the request's X-Amz-Date
}

// Verify checks r's signature over body (the request's whole body, read
// by the caller with a bound) at now. service, if not empty, is the
// service the signature must be scoped to ("ssm", "logs").
func Verify[P any](r *http.Request, body []byte, now time.Time, service string, lookup Lookup[P]) (Verified[P], error) {
	var v Verified[P]
	if r.URL.Query().Has("X-Amz-Signature") {
		return v, fail(CodeIncompleteSignature, "presigned requests (X-Amz-Signature in the query) are not accepted; sign the Authorization header")
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return v, fail(CodeMissingAuthentication, "Missing Authentication Token: the request has no Authorization header; sign it with an access key (postern access-keys create)")
	}
	p, err := ParseAuthorization(auth)
	if err != nil {
		return v, err
	}
	if service != "" && p.Credential.Service != service {
		return v, fail(CodeInvalidSignature, "Credential should be scoped to correct service: '%s'.", service)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		amzDate = r.Header.Get("Date")
	}
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return v, fail(CodeIncompleteSignature, "the request's X-Amz-Date %q is not of the form 20060102T150405Z", amzDate)
	}
	if t.Format("20060102") != p.Credential.Date {
		return v, fail(CodeInvalidSignature, "Credential should be scoped to a valid date (%s), not %s.", t.Format("20060102"), p.Credential.Date)
	}
	if d := now.Sub(t); d > MaxSkew || d < -MaxSkew {
		return v, fail(CodeInvalidSignature, "Signature expired: %s is now earlier than %s (%s - 15 min.)", amzDate, now.Add(-MaxSkew).UTC().Format(amzDateFormat), now.UTC().Format(amzDateFormat))
	}
	// What says who, when and what for must be signed: the host, the
	// time, and the body's type when there is one.
	for _, h := range []string{"host", "x-amz-date", "content-type"} {
		if (h == "host" || r.Header.Get(h) != "") && !slices.Contains(p.SignedHeaders, h) {
			return v, fail(CodeIncompleteSignature, "the %s header must be signed (SignedHeaders)", h)
		}
	}
	secret, principal, err := lookup(p.Credential.AccessKeyID)
	if errors.Is(err, ErrUnknownKey) {
		return v, fail(CodeUnrecognizedClient, "The security token included in the request is invalid: access key %s is unknown, inactive or deleted.", p.Credential.AccessKeyID)
	}
	if err != nil {
		return v, err
	}
	canon := CanonicalRequest(r, p.SignedHeaders, body)
	want := Sign(secret, p.Credential, amzDate, canon)
	if !hmac.Equal([]byte(want), []byte(p.Signature)) {
		return v, fail(CodeInvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	return Verified[P]{Credential: p.Credential, SignedHeaders: p.SignedHeaders, Principal: principal, Time: t}, nil
}

// Authorization is a parsed Authorization header.
type Authorization struct {
	Credential    Credential
	SignedHeaders []string // lower case, sorted
	Signature     string   // lower-case hex
}

// MaxAuthorization bounds the header a parser reads.
const MaxAuthorization = 8 << 10

// ParseAuthorization parses "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
// SignedHeaders=a;b, Signature=hex".
func ParseAuthorization(h string) (Authorization, error) {
	var a Authorization
	if len(h) > MaxAuthorization {
		return a, fail(CodeIncompleteSignature, "the Authorization header is %d bytes long; at most %d", len(h), MaxAuthorization)
	}
	alg, rest, ok := strings.Cut(h, " ")
	if !ok || alg != Algorithm {
		return a, fail(CodeIncompleteSignature, "Authorization header requires the %s algorithm, not %q", Algorithm, clip(alg))
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, fail(CodeIncompleteSignature, "Authorization header element %q is not KEY=VALUE", clip(part))
		}
		if seen[k] {
			return a, fail(CodeIncompleteSignature, "Authorization header names %s twice", clip(k))
		}
		seen[k] = true
		switch k {
		case "Credential":
			f := strings.Split(val, "/")
			if len(f) != 5 || f[4] != "aws4_request" || f[0] == "" || f[2] == "" || f[3] == "" || len(f[1]) != 8 {
				return a, fail(CodeIncompleteSignature, "Credential %q is not ACCESSKEY/YYYYMMDD/REGION/SERVICE/aws4_request", clip(val))
			}
			a.Credential = Credential{AccessKeyID: f[0], Date: f[1], Region: f[2], Service: f[3]}
		case "SignedHeaders":
			a.SignedHeaders = strings.Split(val, ";")
			for _, sh := range a.SignedHeaders {
				if sh == "" || sh != strings.ToLower(sh) {
					return a, fail(CodeIncompleteSignature, "SignedHeaders %q must be lower-case names separated by ;", clip(val))
				}
			}
			if !slices.IsSorted(a.SignedHeaders) {
				return a, fail(CodeIncompleteSignature, "SignedHeaders %q must be sorted", clip(val))
			}
		case "Signature":
			if len(val) != 64 || strings.Trim(val, "0123456789abcdef") != "" {
				return a, fail(CodeIncompleteSignature, "Signature %q is not 64 lower-case hex digits", clip(val))
			}
			a.Signature = val
		default:
			return a, fail(CodeIncompleteSignature, "Authorization header has an unknown element %q", clip(k))
		}
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if !seen[k] {
			return a, fail(CodeIncompleteSignature, "Authorization header requires a '%s' parameter", k)
		}
	}
	return a, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// CanonicalRequest is SigV4's canonical form of r with its body, signing
// the named headers (the Host header is r.Host).
func CanonicalRequest(r *http.Request, signed []string, body []byte) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r.URL.EscapedPath()))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery))
	b.WriteByte('\n')
	for _, h := range signed {
		b.WriteString(h)
		b.WriteByte(':')
		vals := r.Header.Values(h)
		switch {
		case h == "host":
			vals = []string{r.Host}
		case h == "content-length" && len(vals) == 0 && r.ContentLength >= 0:
			// Go keeps it in the request, not always in its headers.
			vals = []string{fmt.Sprint(r.ContentLength)}
		}
		for i, v := range vals {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strings.Join(strings.Fields(v), " "))
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	sum := sha256.Sum256(body)
	b.WriteString(hex.EncodeToString(sum[:]))
	return b.String()
}

// canonicalURI encodes each segment of the path as SigV4 wants for
// services other than S3: the path as sent, each segment's escapes
// encoded once more.
func canonicalURI(p string) string {
	if p == "" {
		return "/"
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = encode(s)
	}
	return strings.Join(segs, "/")
}

// canonicalQuery sorts the query's parameters by name and value, each
// encoded as SigV4 wants.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	var pairs []string
	for _, kv := range strings.Split(raw, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		uk, err1 := url.QueryUnescape(k)
		uv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			uk, uv = k, v
		}
		pairs = append(pairs, encode(uk)+"="+encode(uv))
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "&")
}

// encode percent-encodes everything but RFC 3986's unreserved characters.
func encode(s string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

// Sign returns the signature of a canonical request made at amzDate
// within credential c's scope, with secret.
func Sign(secret string, c Credential, amzDate, canonical string) string {
	scope := c.Date + "/" + c.Region + "/" + c.Service + "/aws4_request"
	sum := sha256.Sum256([]byte(canonical))
	toSign := Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	k := mac([]byte("AWS4"+secret), c.Date)
	k = mac(k, c.Region)
	k = mac(k, c.Service)
	k = mac(k, "aws4_request")
	return hex.EncodeToString(mac(k, toSign))
}

func mac(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}
