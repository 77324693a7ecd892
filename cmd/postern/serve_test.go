package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/client"
)

func TestServerConfigLimits(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "postern.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var o serverOptions
	if err := loadServerConfig(write("grace: 30s\nsignInLifetime: 168h\nssoSignInLifetime: 8h\nmaxPendingConns: 64\n"), &o); err != nil {
		t.Fatal(err)
	}
	if o.grace != 30*time.Second || o.signInLifetime != 168*time.Hour || o.ssoSignInLifetime != 8*time.Hour || o.maxPendingConns != 64 {
		t.Fatalf("options %+v", o)
	}
	if err := loadServerConfig(write("database: postgres://postern@db.internal/postern?sslmode=verify-full\n"), &o); err != nil {
		t.Fatal(err)
	}
	if o.database != "postgres://postern@db.internal/postern?sslmode=verify-full" {
		t.Errorf("database: %q", o.database)
	}
	if err := loadServerConfig(write("proxyProtocolFrom: [10.0.0.10, 10.1.2.0/24, '::ffff:10.0.0.11', 10.2.3.4/16]\n"), &o); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(o.proxyProtocolFrom); got != "[10.0.0.10/32 10.1.2.0/24 10.0.0.11/32 10.2.0.0/16]" {
		t.Errorf("proxyProtocolFrom: %s", got)
	}
	for body, want := range map[string]string{
		"database: mysql://root:s3cret@db/postern\n": "database: not a postgres:// or postgresql:// URL",
		"listn: :9443\n":                          `postern.yaml:1: unknown field "listn" (did you mean listen?)`,
		"ssoSignInLifetime: 8 hours\n":            "ssoSignInLifetime: time: unknown unit",
		"signInLifetime: -1h\n":                   "signInLifetime: -1h must be positive",
		"proxyProtocolFrom: [haproxy.internal]\n": `proxyProtocolFrom: "haproxy.internal" is neither an IP address nor a CIDR prefix`,
	} {
		if err := loadServerConfig(write(body), &serverOptions{}); err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: %v; want an error containing %q", body, err, want)
		}
	}
}

// TestPrivateData: the databases hold password and token hashes and shred
// keys: only their owner may read them, new or already there.
func TestPrivateData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "logs.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := privateData(dir, true); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{".": 0o700, "postern.db": 0o600, "logs.db": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", name, got, want)
		}
	}
	// With the metadata and the log groups in PostgreSQL, no database
	// file appears to mislead whoever looks for one.
	other := t.TempDir()
	if err := privateData(other, false); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"postern.db", "logs.db"} {
		if _, err := os.Stat(filepath.Join(other, db)); !os.IsNotExist(err) {
			t.Errorf("%s made for a PostgreSQL deployment: %v", db, err)
		}
	}
}

// TestExternalHosts: listening on every address, the certificate names
// the machine as remote clients reach it (issue 17, item 5); listening on
// one, nothing is added.
func TestExternalHosts(t *testing.T) {
	host, _ := os.Hostname()
	for _, listen := range []string{":9443", "0.0.0.0:9443", "[::]:9443"} {
		hs := externalHosts(listen)
		if host != "" && host != "localhost" && (len(hs) == 0 || hs[0] != host) {
			t.Errorf("externalHosts(%q) = %v, want the host name %q first", listen, hs, host)
		}
		for _, h := range hs {
			if h == "127.0.0.1" || h == "::1" {
				t.Errorf("externalHosts(%q) names loopback: %v", listen, hs)
			}
		}
	}
	for _, listen := range []string{"127.0.0.1:8443", "192.0.2.1:8443", "localhost:8443", "bad"} {
		if hs := externalHosts(listen); hs != nil {
			t.Errorf("externalHosts(%q) = %v, want none", listen, hs)
		}
	}
}

// TestDevCLIHome: postern dev replaces a local login (an earlier postern
// dev's) but leaves a login to another server alone (issue 17, item 7).
func TestDevCLIHome(t *testing.T) {
	home, data := t.TempDir(), t.TempDir()
	if dir, kept := devCLIHome(home, data); dir != home || kept != "" {
		t.Fatalf("no login: %q, %q", dir, kept)
	}
	for srv, replace := range map[string]bool{"https://127.0.0.1:8443": true, "https://localhost:9000": true, "https://[::1]:1": true, "https://postern.example.com:8443": false, "https://192.0.2.2:8443": false} {
		if err := client.SaveConfig(home, client.Config{Server: srv}); err != nil {
			t.Fatal(err)
		}
		dir, kept := devCLIHome(home, data)
		if replace && (dir != home || kept != "") || !replace && (dir != filepath.Join(data, "cli") || kept != srv) {
			t.Errorf("login to %s: dev uses %q (kept %q)", srv, dir, kept)
		}
	}
}

// TestRecordingsConfig: a recordings: section is checked before the
// server starts, each mistake named.
func TestRecordingsConfig(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	for body, want := range map[string]string{
		"recordings: {s3KeyPrefix: x}\n":                                  "recordings: s3BucketName is required",
		"recordings: {s3BucketName: Bad_Bucket}\n":                        "invalid S3 bucket name",
		"recordings: {s3BucketName: ok-bucket, shipInterval: soon}\n":     `recordings.shipInterval: "soon" is not a positive duration`,
		"recordings: {s3BucketName: ok-bucket, stallTimeout: -1s}\n":      `recordings.stallTimeout: "-1s" is not a positive duration`,
		"recordings: {s3BucketName: ok-bucket, s3KeyPrefix: /abs}\n":      `starts with "/"`,
		"recordings: {s3BucketName: ok-bucket, shipIntervall: 1s}\n":      `unknown field "recordings.shipIntervall" (did you mean shipInterval?)`,
		"recordings: {s3BucketName: ok-bucket}\ns3: {timeout: forever}\n": `s3.timeout: "forever" is not a positive duration`,
	} {
		p := filepath.Join(dir, "postern.yaml")
		os.WriteFile(p, []byte(body), 0o600)
		o := serverOptions{data: dir}
		err := loadServerConfig(p, &o)
		if err == nil {
			_, _, _, err = recordingStore(ctx, o, t.Logf)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v; want an error containing %q", body, err, want)
		}
	}
	// Without the section: no store, the data directory keeps recordings.
	if st, _, _, err := recordingStore(ctx, serverOptions{data: dir}, t.Logf); st != nil || err != nil {
		t.Errorf("no recordings section: %v, %v", st, err)
	}
}

// TestPackagedConfig: the configuration the postern-server package
// installs (packaging/server.yaml) is one the server takes, saying what
// the unit and the README say it does.
func TestPackagedConfig(t *testing.T) {
	var o serverOptions
	if err := loadServerConfig(filepath.Join("..", "..", "packaging", "server.yaml"), &o); err != nil {
		t.Fatal(err)
	}
	if o.data != "/var/lib/postern" || o.listen != ":8443" {
		t.Errorf("packaged configuration: data %q, listen %q", o.data, o.listen)
	}
}

// TestComposeConfig: the server configuration of the container example
// (deploy/container) is one the server takes: PostgreSQL, MinIO and the
// recordings' bucket by the compose services' names.
func TestComposeConfig(t *testing.T) {
	var o serverOptions
	if err := loadServerConfig(filepath.Join("..", "..", "deploy", "container", "server.yaml"), &o); err != nil {
		t.Fatal(err)
	}
	if o.database != "postgres://postern@postgres:5432/postern?sslmode=disable" || o.recordings.S3BucketName != "postern-recordings" ||
		o.destinations.S3.Endpoint != "http://minio:9000" || !o.destinations.S3.ForcePathStyle {
		t.Errorf("compose configuration: database %q, recordings %+v, s3 %+v", o.database, o.recordings, o.destinations.S3)
	}
}

// TestConfigKeysDocumented: every key of a server configuration file
// has its row in the README's table ("The server's configuration
// file"), which is the configuration's reference.
func TestConfigKeysDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(b), "### The server's configuration file\n")
	table, _, _ = strings.Cut(table, "\n### ")
	documented := map[string]bool{}
	for _, line := range strings.Split(table, "\n") {
		if cells := strings.Split(line, "|"); len(cells) > 2 && strings.HasPrefix(line, "| `") {
			for _, k := range strings.Split(cells[1], ",") {
				documented[strings.Trim(strings.TrimSpace(k), "`")] = true
			}
		}
	}
	var keys func(reflect.Type)
	var missing []string
	keys = func(ty reflect.Type) {
		for f := range ty.Fields() {
			if f.Anonymous {
				keys(f.Type)
				continue
			}
			if k, _, _ := strings.Cut(f.Tag.Get("json"), ","); k != "" && !documented[k] {
				missing = append(missing, k)
			}
		}
	}
	keys(reflect.TypeFor[serverFile]())
	if len(missing) > 0 {
		t.Errorf("configuration keys missing from the README's table: %v", missing)
	}
}
