package recording

import (
	"crypto/cipher"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// DesktopInfo is a desktop connection's facts (a KindDesktop record): who
// the desktop was signed in as and how the connection was made. Never a
// password.
type DesktopInfo struct {
	User     string `json:"user,omitempty"`   // the desktop's user name; empty: signed in on the desktop's own screen
	Domain   string `json:"domain,omitempty"` // its domain, if any
	Security string `json:"security"`         // nla, tls, rdp or any, as asked
	// Certificate is the SHA-256 of the desktop's TLS certificate, hex;
	// empty until connected, or without TLS.
	Certificate string `json:"certificateSha256,omitempty"`
	Width       int    `json:"width,omitempty"`
	Height      int    `json:"height,omitempty"`
	// Connected is set on the record made once the desktop accepted the
	// connection; the first record (at login) has it unset.
	Connected bool `json:"connected,omitempty"`
}

// EncodeDesktop is a KindDesktop record's data.
func EncodeDesktop(d DesktopInfo) ([]byte, error) { return json.Marshal(d) }

// ParseDesktop reads a KindDesktop record's data.
func ParseDesktop(data []byte) (DesktopInfo, error) {
	var d DesktopInfo
	if err := json.Unmarshal(data, &d); err != nil {
		return DesktopInfo{}, fmt.Errorf("recording: desktop record: %w", err)
	}
	return d, nil
}

// merge takes what a later record says: the login's user and security,
// then the connection's certificate and size.
func (d *DesktopInfo) merge(o DesktopInfo) {
	for _, f := range []struct {
		dst *string
		v   string
	}{{&d.User, o.User}, {&d.Domain, o.Domain}, {&d.Security, o.Security}, {&d.Certificate, o.Certificate}} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	if o.Width > 0 {
		d.Width, d.Height = o.Width, o.Height
	}
	d.Connected = d.Connected || o.Connected
}

// Text is the transcript's line for the record.
func (d DesktopInfo) Text() string {
	who := d.User
	if d.Domain != "" && who != "" {
		who = d.Domain + `\` + who
	}
	if who == "" {
		who = "(signed in on the desktop's own screen)"
	}
	if !d.Connected {
		return fmt.Sprintf("desktop login as %s, security %s", who, d.Security)
	}
	cert := d.Certificate
	if cert == "" {
		cert = "none"
	}
	return fmt.Sprintf("desktop connected as %s, %dx%d, certificate sha256 %s", who, d.Width, d.Height, cert)
}

func desktopText(data []byte) string {
	d, err := ParseDesktop(data)
	if err != nil {
		return "desktop: " + err.Error()
	}
	return d.Text()
}

// GuacSummary is what rendering a desktop recording learnt on the way: its
// size and hash, and the connection's facts, for the recording's metadata
// object.
type GuacSummary struct {
	Bytes   int64
	SHA256  string
	Desktop DesktopInfo   // what the KindDesktop records say, together
	Length  time.Duration // time of the last record
}

// RenderGuac writes a desktop session's recording, the Guacamole
// instructions its viewer was sent (KindDisplay records, in order), to w
// (which may be nil, to summarise only).
func RenderGuac(path string, key cipher.AEAD, w io.Writer) (GuacSummary, error) {
	var sum GuacSummary
	jr, err := ReadJournal(path, key)
	if err != nil {
		return sum, err
	}
	defer jr.Close()
	h := sha256.New()
	out := io.Writer(h)
	if w != nil {
		out = io.MultiWriter(w, h)
	}
	for r, err := range jr.All() {
		if err != nil {
			return sum, fmt.Errorf("recording: render %s: %w", path, err)
		}
		sum.Length = max(sum.Length, r.Time)
		switch r.Kind {
		case KindDisplay:
			n, err := out.Write(r.Data)
			sum.Bytes += int64(n)
			if err != nil {
				return sum, err
			}
		case KindDesktop:
			if d, err := ParseDesktop(r.Data); err == nil {
				sum.Desktop.merge(d)
			}
		}
	}
	sum.SHA256 = hex.EncodeToString(h.Sum(nil))
	return sum, nil
}
