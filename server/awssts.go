package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/authz"
	"github.com/postern/postern/httpapi"
	"github.com/postern/postern/sigv4"
	"github.com/postern/postern/store"
)

// Short-lived credentials as AWS STS's GetSessionToken gives them: an
// access key (ASIA...), its secret and a session token, which the AWS CLI
// and SDKs send as X-Amz-Security-Token with every request they sign
// (AWS_SESSION_TOKEN). Postern keeps nothing of them: the session token
// is the credentials themselves (user, parent key, key, secret, expiry),
// sealed by the key service, so every server of a cluster checks them,
// and they end at their expiry or with the long-term key that made them
// (deleting it, or its user's password or groups changing, revokes them).
//
// STS speaks AWS's query protocol: a form-encoded POST with Action and
// Version, answered in XML.

// STS's limits of a session's duration, and its default, in seconds.
const (
	stsMinDuration     = 900
	stsMaxDuration     = 129600
	stsDefaultDuration = 43200
)

// stsVersion is the only STS API version.
const stsVersion = "2011-06-15"

// AWS STS's error codes that Postern answers with.
const (
	awsExpiredToken  = "ExpiredTokenException"
	awsInvalidAction = "InvalidAction"
	awsAccessDenied  = "AccessDenied"
	awsSTSValidation = "ValidationError"
)

// securityTokenHeader carries a session token.
const securityTokenHeader = "X-Amz-Security-Token"

// sessionTokenAAD binds sealed session credentials to their purpose.
var sessionTokenAAD = []byte("postern sts session token v1")

// sessionCreds are what a session token carries.
type sessionCreds struct {
	Account string `json:"a"`
	User    string `json:"u"`
	Parent  string `json:"p"` // the long-term access key that made them
	KeyID   string `json:"k"`
	Secret  string `json:"s"`
	Expires int64  `json:"e"` // Unix seconds
}

// isSTSRequest reports whether r is an STS query-protocol request rather
// than an AWS JSON one.
func isSTSRequest(r *http.Request) bool {
	return r.Header.Get("X-Amz-Target") == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
}

// handleSTS serves STS's GetSessionToken, signed with a long-term access
// key.
func (s *Server) handleSTS(w http.ResponseWriter, r *http.Request) {
	out, err := s.serveSTS(r)
	w.Header().Set("Content-Type", "text/xml")
	if err != nil {
		ae := s.awsErrorOf(r, err)
		kind := "Sender"
		if ae.status >= 500 {
			kind = "Receiver"
		}
		w.WriteHeader(ae.status)
		io.WriteString(w, xml.Header)
		xml.NewEncoder(w).Encode(stsErrorResponse{Error: stsError{Type: kind, Code: ae.code, Message: ae.msg}, RequestID: newRequestID()})
		return
	}
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(out)
}

type stsErrorResponse struct {
	XMLName   xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
	Error     stsError `xml:"Error"`
	RequestID string   `xml:"RequestId"`
}

type stsError struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

type getSessionTokenResponse struct {
	XMLName     xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetSessionTokenResponse"`
	Credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	} `xml:"GetSessionTokenResult>Credentials"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

func (s *Server) serveSTS(r *http.Request) (any, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAWSBody+1))
	if err != nil {
		return nil, awsErrorf(http.StatusBadRequest, awsSTSValidation, "reading the request: %v", err)
	}
	if len(body) > maxAWSBody {
		return nil, awsErrorf(http.StatusRequestEntityTooLarge, awsSTSValidation, "the request's body is larger than %d bytes", maxAWSBody)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, awsErrorf(http.StatusBadRequest, awsSTSValidation, "the request's body is not a form: %v", err)
	}
	action := form.Get("Action")
	if ai := auditOf(r); ai != nil && action == "GetSessionToken" {
		ai.action = "AWS STS.GetSessionToken"
	}
	if action != "GetSessionToken" {
		return nil, awsErrorf(http.StatusBadRequest, awsInvalidAction, "Could not find operation %q: of STS, this server offers GetSessionToken", clipTo(action, 100))
	}
	if v := form.Get("Version"); v != stsVersion {
		return nil, awsErrorf(http.StatusBadRequest, awsInvalidAction, "Version %q: STS's is %s", clipTo(v, 40), stsVersion)
	}
	if r.Header.Get(securityTokenHeader) != "" {
		// As in AWS: session credentials do not make more of
		// themselves, so they end when they end.
		return nil, awsErrorf(http.StatusForbidden, awsAccessDenied, "Cannot call GetSessionToken with session credentials")
	}
	v, err := sigv4.Verify(r, body, s.now(), "sts", s.accessKeyCaller(r.Context()))
	if err != nil {
		return nil, err
	}
	dur := stsDefaultDuration
	if d := form.Get("DurationSeconds"); d != "" {
		dur, err = strconv.Atoi(d)
		if err != nil || dur < stsMinDuration || dur > stsMaxDuration {
			return nil, awsErrorf(http.StatusBadRequest, awsSTSValidation, "1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must be a number of seconds from %d to %d", clipTo(d, 20), stsMinDuration, stsMaxDuration)
		}
	}
	if err := s.refuseWhenFull(r); err != nil {
		return nil, err
	}
	if s.cfg.Keys == nil {
		return nil, awsErrorf(http.StatusServiceUnavailable, awsServiceUnavailable, "this server has no key service to seal session tokens")
	}
	c := v.Principal
	s.guard().Authenticated(r, c)
	r, checked := httpapi.WithCaller(r, c)
	// Making them is making a token of the user's own.
	if err := s.authorize(r, authz.CreateToken, userEntity(c.User)); err != nil {
		return nil, err
	}
	if !checked() {
		return nil, awsErrorf(http.StatusInternalServerError, awsInternalError, "internal error: the server did not check this request's authorization")
	}
	id, secret := newAccessKey()
	id = "ASIA" + strings.TrimPrefix(id, "AKIA") // AWS's prefix for temporary keys
	exp := s.now().Add(time.Duration(dur) * time.Second).UTC().Truncate(time.Second)
	sc := sessionCreds{Account: c.Account, User: c.User.Name, Parent: c.Token.ID, KeyID: id, Secret: secret, Expires: exp.Unix()}
	raw, _ := json.Marshal(sc)
	out := getSessionTokenResponse{RequestID: newRequestID()}
	out.Credentials.AccessKeyID, out.Credentials.SecretAccessKey = id, secret
	out.Credentials.SessionToken = base64.RawURLEncoding.EncodeToString(s.cfg.Keys.SealSecret(raw, sessionTokenAAD))
	out.Credentials.Expiration = exp.Format(time.RFC3339)
	s.logf("server: %s made session credentials %s with access key %s, until %s", c.User.Name, id, c.Token.ID, out.Credentials.Expiration)
	return out, nil
}

// sessionCredsCaller is sigv4's Lookup for a request that carries a
// session token: the credentials it seals, if they are whole, unexpired,
// and their access key and its user still there.
func (s *Server) sessionCredsCaller(ctx context.Context, token string) sigv4.Lookup[caller] {
	return func(id string) (string, caller, error) {
		invalid := &sigv4.Error{Code: sigv4.CodeUnrecognizedClient, Message: "The security token included in the request is invalid."}
		if s.cfg.Keys == nil {
			return "", caller{}, errors.New("this server has no key service to open session tokens")
		}
		sealed, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return "", caller{}, invalid
		}
		raw, err := s.cfg.Keys.OpenSecret(sealed, sessionTokenAAD)
		if err != nil {
			return "", caller{}, invalid
		}
		var sc sessionCreds
		if err := json.Unmarshal(raw, &sc); err != nil || sc.KeyID != id {
			return "", caller{}, invalid
		}
		if !s.now().Before(time.Unix(sc.Expires, 0)) {
			return "", caller{}, &sigv4.Error{Code: awsExpiredToken, Message: fmt.Sprintf("The security token included in the request is expired (at %s)", time.Unix(sc.Expires, 0).UTC().Format(time.RFC3339))}
		}
		// The key that made them, and its user, still there (its
		// secret is not needed: the token holds theirs).
		k, u, err := s.accessKeyUser(ctx, sc.Parent)
		if errors.Is(err, sigv4.ErrUnknownKey) || err == nil && (k.Account != sc.Account || k.User != sc.User) {
			return "", caller{}, &sigv4.Error{Code: sigv4.CodeUnrecognizedClient, Message: fmt.Sprintf("The security token included in the request is invalid: access key %s, which made it, was deleted.", sc.Parent)}
		}
		if err != nil {
			return "", caller{}, err
		}
		return sc.Secret, caller{Account: sc.Account, User: u, Token: store.Token{ID: sc.KeyID, Account: sc.Account, User: sc.User, Kind: "SessionCredentials"}}, nil
	}
}

// awsLookup is the lookup of r's signing key: a session token's
// credentials, or a long-term access key.
func (s *Server) awsLookup(r *http.Request) sigv4.Lookup[caller] {
	if tok := r.Header.Get(securityTokenHeader); tok != "" {
		return s.sessionCredsCaller(r.Context(), tok)
	}
	return s.accessKeyCaller(r.Context())
}

// checkSecurityTokenSigned refuses a session token the signature does
// not cover: it could have been swapped for another.
func checkSecurityTokenSigned(r *http.Request, signed []string) error {
	if r.Header.Get(securityTokenHeader) != "" && !slices.Contains(signed, "x-amz-security-token") {
		return &sigv4.Error{Code: sigv4.CodeIncompleteSignature, Message: "the X-Amz-Security-Token header must be signed (SignedHeaders)"}
	}
	return nil
}
