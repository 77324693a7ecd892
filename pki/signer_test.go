package pki

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSessionSignerPersists(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ca.SessionSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, signerKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("signer key: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}
	again, err := ca.SessionSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Certificate().Raw, s.Certificate().Raw) {
		t.Error("reloading the signer issued a new certificate")
	}
	msg := []byte("grant")
	sig, certDER, err := again.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := VerifySessionSigner(certDER, ca.Pool(), time.Now())
	if err != nil {
		t.Fatalf("our own signer: %v", err)
	}
	if !ed25519.Verify(cert.PublicKey.(ed25519.PublicKey), msg, sig) {
		t.Error("the signature does not verify with the certificate's key")
	}
	if _, err := VerifySessionSigner(certDER, ca.Pool(), time.Now().AddDate(2, 0, 0)); err == nil {
		t.Error("a signer certificate verified two years on")
	}
}

// TestSessionSignerReissued: a signer that another CA certified (the CA
// was replaced), one near its end, and one whose files do not match are
// replaced at start.
func TestSessionSignerReissued(t *testing.T) {
	dir := t.TempDir()
	ca, _ := LoadOrCreateCA(dir, "test CA")
	first, err := ca.SessionSigner(dir)
	if err != nil {
		t.Fatal(err)
	}

	other, _ := LoadOrCreateCA(t.TempDir(), "another CA")
	s, err := other.SessionSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(s.Certificate().Raw, first.Certificate().Raw) {
		t.Fatal("a new CA kept the old CA's signer")
	}
	if _, err := VerifySessionSigner(s.Certificate().Raw, other.Pool(), time.Now()); err != nil {
		t.Errorf("reissued signer: %v", err)
	}

	// Near its end: certified for less than 30 days more.
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := signerTemplate(time.Now().Add(10 * 24 * time.Hour))
	der, err := x509.CreateCertificate(rand.Reader, tmpl, other.Cert, pub, other.key)
	if err != nil {
		t.Fatal(err)
	}
	writeSigner(t, dir, key, der)
	if s, _ := other.SessionSigner(dir); bytes.Equal(s.Certificate().Raw, der) {
		t.Error("kept a signer certificate that ends in 10 days")
	}

	// A certificate for another key.
	_, key2, _ := ed25519.GenerateKey(rand.Reader)
	der = mustSigner(t, other, time.Now().AddDate(1, 0, 0))
	writeSigner(t, dir, key2, der)
	if s, _ := other.SessionSigner(dir); bytes.Equal(s.Certificate().Raw, der) {
		t.Error("kept a signer certificate that does not match the key")
	}
}

// TestVerifySessionSignerRefuses: only a certificate the CA issued as a
// session signer signs grants; its TLS certificates do not.
func TestVerifySessionSignerRefuses(t *testing.T) {
	ca, _ := LoadOrCreateCA(t.TempDir(), "ours")
	other, _ := LoadOrCreateCA(t.TempDir(), "theirs")
	theirSigner, err := other.SessionSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.ServerCertificate(t.TempDir(), []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	// An agent's certificate for an Ed25519 key, as a thief holding one
	// would need to sign grants at all.
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	agentPEM, _, err := ca.SignClient(csr, "mi-0a1b2c3d4e5f60718", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	agent, _ := ParseCertPEM(agentPEM)
	// A certificate that looks like a signer but is for TLS clients too.
	tlsSigner := signerTemplate(time.Now().Add(time.Hour))
	tlsSigner.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning, x509.ExtKeyUsageClientAuth}
	tlsDER, err := x509.CreateCertificate(rand.Reader, tlsSigner, ca.Cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	// The right usage without the signer's name.
	unnamed := signerTemplate(time.Now().Add(time.Hour))
	unnamed.Subject = pkix.Name{CommonName: "mi-0a1b2c3d4e5f60718"}
	unnamedDER, err := x509.CreateCertificate(rand.Reader, unnamed, ca.Cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		der  []byte
		want string
	}{
		{"garbage", []byte("x"), "session signer certificate"},
		{"another CA's signer", theirSigner.Certificate().Raw, "does not verify against the server's CA"},
		{"the server's TLS certificate", server.Certificate[0], "not a session signer"},
		{"an agent's certificate", agent.Raw, "not a session signer"},
		{"the CA itself", ca.Cert.Raw, "is a CA"},
		{"a signer for TLS too", tlsDER, "for TLS"},
		{"without the signer's name", unnamedDER, "not a session signer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifySessionSigner(tt.der, ca.Pool(), time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("VerifySessionSigner = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func signerTemplate(notAfter time.Time) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: SessionSignerName, OrganizationalUnit: []string{SessionSignerName}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
}

func mustSigner(t *testing.T, ca *CA, notAfter time.Time) []byte {
	t.Helper()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, signerTemplate(notAfter), ca.Cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func writeSigner(t *testing.T, dir string, key ed25519.PrivateKey, der []byte) {
	t.Helper()
	keyPEM, err := MarshalKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, signerKeyFile), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, signerCertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}
