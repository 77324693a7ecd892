package pki

import (
	"crypto/tls"
	"crypto/x509"
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
