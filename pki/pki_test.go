package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCAPersistsAndSigns(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateCA(dir, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	if ca.Pin() != again.Pin() {
		t.Fatal("reloading the CA changed it")
	}
	if fi, _ := os.Stat(filepath.Join(dir, caKeyFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("CA key mode %v, want 0600", fi.Mode().Perm())
	}
	keyPEM, csrPEM, err := NewClientKey("x")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, serial, err := ca.SignClient(csrPEM, "mi-0a1b2c3d4e5f60718", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if pair.Leaf.Subject.CommonName != "mi-0a1b2c3d4e5f60718" || pair.Leaf.SerialNumber.Text(16) != serial {
		t.Errorf("client cert CN %q serial %s", pair.Leaf.Subject.CommonName, serial)
	}
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client cert does not verify: %v", err)
	}
	if _, _, err := ca.SignClient([]byte("garbage"), "x", time.Hour); err == nil {
		t.Error("signed a garbage request")
	}
}

func TestVerifyPinned(t *testing.T) {
	ca, _ := LoadOrCreateCA(t.TempDir(), "ours")
	other, _ := LoadOrCreateCA(t.TempDir(), "theirs")
	ours, err := ca.ServerCertificate(t.TempDir(), []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	theirs, _ := other.ServerCertificate(t.TempDir(), []string{"localhost"})
	verify := VerifyPinned(ca.Pin())
	if err := verify(ours.Certificate, nil); err != nil {
		t.Errorf("our own server rejected: %v", err)
	}
	// An impostor that appends a copy of our CA to its own chain.
	forged := [][]byte{theirs.Certificate[0], ca.Cert.Raw}
	if err := verify(forged, nil); err == nil || !strings.Contains(err.Error(), "not issued by the pinned CA") {
		t.Errorf("forged chain: %v", err)
	}
	if err := verify(theirs.Certificate, nil); err == nil {
		t.Error("foreign chain accepted")
	}
}

// A server's peer certificate verifies for client authentication and is
// told apart from a node's, whatever the node's request asked for.
func TestPeerCertificate(t *testing.T) {
	ca, err := LoadOrCreateCA(t.TempDir(), "test CA")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ca.PeerCertificate("host/0123abcd")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("peer cert does not verify: %v", err)
	}
	if !IsPeer(peer.Leaf) || peer.Leaf.Subject.CommonName != "host/0123abcd" {
		t.Errorf("IsPeer = false or CN %q", peer.Leaf.Subject.CommonName)
	}
	// A node asking for the peers' unit in its request does not get it.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "mi-0", OrganizationalUnit: []string{PeerUnit}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := ca.SignClient(csr, "mi-0a1b2c3d4e5f60718", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(certPEM)
	node, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if IsPeer(node) || IsPeer(nil) {
		t.Error("a node's certificate passes for a server's")
	}
}
