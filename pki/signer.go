package pki

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The session signer is the key with which the server signs each request it
// sends an agent (wire.SignGrant), so that an agent acts only on what the
// server's session logic decided. It is an Ed25519 key kept next to the CA,
// with a certificate from the CA that marks it as a session signer: an
// agent trusts a grant's signer only if that certificate chains to the CA
// it registered with and carries the mark, which the CA puts on no other
// certificate (server and agent certificates have fixed subjects without
// it).

// SessionSignerName is the common name and organizational unit of session
// signer certificates: the mark that tells them from the server's TLS
// certificate and agents' client certificates, issued by the same CA.
const SessionSignerName = "postern session signer"

const (
	signerCertFile = "session-signer.crt"
	signerKeyFile  = "session-signer.key"
	// signerValidity is a session signer certificate's lifetime; it is
	// renewed at start within signerRenewBefore of its end, as the server
	// certificate is.
	signerValidity    = 365 * 24 * time.Hour
	signerRenewBefore = 30 * 24 * time.Hour
)

// Signer signs session grants.
type Signer struct {
	key  ed25519.PrivateKey
	cert *x509.Certificate
}

// SessionSigner loads the session signer from dir, or creates its key and
// has the CA certify it when it is missing, expires within 30 days, or is
// not certified by this CA (the CA changed).
func (ca *CA) SessionSigner(dir string) (*Signer, error) {
	now := time.Now()
	if s, err := loadSigner(dir); err == nil {
		_, verr := VerifySessionSigner(s.cert.Raw, ca.Pool(), now)
		if verr == nil && s.cert.NotAfter.Sub(now) >= signerRenewBefore {
			return s, nil
		}
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate session signer key: %w", err)
	}
	notAfter := now.Add(signerValidity)
	if ca.Cert.NotAfter.Before(notAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject: pkix.Name{
			CommonName:         SessionSignerName,
			Organization:       []string{"Postern"},
			OrganizationalUnit: []string{SessionSignerName},
		},
		NotBefore: now.Add(-time.Hour),
		NotAfter:  notAfter,
		KeyUsage:  x509.KeyUsageDigitalSignature,
		// No extended key usage: there is no standard one for this, and
		// an empty list would mean "any" to TLS stacks. Code signing is
		// the nearest registered purpose that no TLS peer accepts, so the
		// key cannot pose as a server or an agent either.
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki: issue session signer certificate: %w", err)
	}
	keyPEM, err := MarshalKeyPEM(key)
	if err != nil {
		return nil, err
	}
	// Key first, as for the CA: a crash between the writes leaves a
	// certificate that does not match the key, which the next start
	// replaces.
	if err := WriteFileAtomic(filepath.Join(dir, signerKeyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(filepath.Join(dir, signerCertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: session signer certificate: %w", err)
	}
	return &Signer{key: key, cert: cert}, nil
}

func loadSigner(dir string) (*Signer, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, signerCertFile))
	if err != nil {
		return nil, err
	}
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, signerKeyFile))
	if err != nil {
		return nil, err
	}
	k, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("session signer key is %T, want Ed25519", k)
	}
	if pub, ok := cert.PublicKey.(ed25519.PublicKey); !ok || !bytes.Equal(pub, key.Public().(ed25519.PublicKey)) {
		return nil, errors.New("session signer certificate does not match its key")
	}
	return &Signer{key: key, cert: cert}, nil
}

// Sign signs msg and returns the signature and the signer's DER
// certificate, as wire.SignGrant wants them.
func (s *Signer) Sign(msg []byte) (sig, cert []byte, err error) {
	return ed25519.Sign(s.key, msg), s.cert.Raw, nil
}

// Certificate returns the signer's certificate.
func (s *Signer) Certificate() *x509.Certificate { return s.cert }

// VerifySessionSigner checks that der is a session signer certificate
// issued by a CA in roots and valid at now, and returns it. Its PublicKey is
// an ed25519.PublicKey.
func VerifySessionSigner(der []byte, roots *x509.CertPool, now time.Time) (*x509.Certificate, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: session signer certificate: %w", err)
	}
	// What the certificate says first, so that the server's or an agent's
	// certificate is refused as what it is; then who issued it.
	switch {
	case cert.IsCA:
		return nil, fmt.Errorf("pki: certificate %q is a CA, not a session signer", cert.Subject.CommonName)
	case cert.Subject.CommonName != SessionSignerName || !slices.Equal(cert.Subject.OrganizationalUnit, []string{SessionSignerName}):
		return nil, fmt.Errorf("pki: certificate %q is not a session signer", cert.Subject.CommonName)
	case cert.KeyUsage&x509.KeyUsageDigitalSignature == 0:
		return nil, fmt.Errorf("pki: session signer certificate does not allow digital signatures")
	case slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageAny):
		return nil, fmt.Errorf("pki: certificate %q is for TLS, not a session signer", cert.Subject.CommonName)
	}
	if _, ok := cert.PublicKey.(ed25519.PublicKey); !ok {
		return nil, fmt.Errorf("pki: session signer key is %T, want Ed25519", cert.PublicKey)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
		return nil, fmt.Errorf("pki: session signer certificate does not verify against the server's CA: %w", err)
	}
	return cert, nil
}
