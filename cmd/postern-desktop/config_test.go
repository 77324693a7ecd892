package main

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	c, err := parseConfig([]byte(`{"address":"/tmp/x/rdp.sock","username":"u","password":"p","domain":"",` +
		`"security":"any","width":1024,"height":768,"dpi":96,"connectTimeoutSeconds":15}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Address != "/tmp/x/rdp.sock" || c.Password != "p" || c.Width != 1024 || c.ConnectTimeoutSeconds != 15 {
		t.Fatalf("config %+v", c)
	}
	c, err = parseConfig([]byte(`{"address":"[::1]:3389"}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Security != "any" || c.Width != defaultWidth || c.Height != defaultHeight || c.DPI != defaultDPI || c.ConnectTimeoutSeconds != defaultConnectTimout {
		t.Fatalf("defaults %+v", c)
	}
	for _, bad := range []string{
		``, `[]`, `{}`, `{"address":"h"}`, `{"address":":3389"}`, `{"address":"h:0"}`, `{"address":"h:65536"}`,
		`{"address":"h:1","security":"kerberos"}`, `{"address":"h:1","width":100,"height":100}`,
		`{"address":"h:1","dpi":1000}`, `{"address":"h:1","connectTimeoutSeconds":-1}`,
		`{"address":"h:1","extra":1}`, `{"address":"h:1"} {"address":"h:2"}`,
		`{"address":"/` + strings.Repeat("x", 200) + `"}`, `{"address":"h:1","password":"a\u0000b"}`,
	} {
		if _, err := parseConfig([]byte(bad)); err == nil {
			t.Errorf("parseConfig(%q) accepted", bad)
		}
	}
	// The password is never in an error.
	_, err = parseConfig([]byte(`{"address":"h:1","password":"sekrit","width":1}`))
	if err == nil || strings.Contains(err.Error(), "sekrit") {
		t.Fatalf("error %v", err)
	}
}

func TestReadConfigLine(t *testing.T) {
	r := bufio.NewReaderSize(strings.NewReader(strings.Repeat("x", maxConfigLine+10)+"\n"), maxConfigLine)
	if _, err := readConfigLine(r); err == nil {
		t.Fatal("an overlong line was read")
	}
	r = bufio.NewReaderSize(strings.NewReader(`{"address":"h:1"}`+"\n5.mouse,1.1,1.1,1.0;"), maxConfigLine)
	line, err := readConfigLine(r)
	if err != nil || string(line) != `{"address":"h:1"}`+"\n" {
		t.Fatalf("line %q, %v", line, err)
	}
	if rest, _ := r.ReadString(';'); rest != "5.mouse,1.1,1.1,1.0;" {
		t.Fatalf("the instructions after the line were lost: %q", rest)
	}
}

// FuzzParseConfig: whatever the line, parseConfig either refuses it or
// returns a config within bounds that encodes back to one it accepts.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"address":"/tmp/x/rdp.sock","username":"u","password":"p","domain":"","security":"any","width":1024,"height":768,"dpi":96,"connectTimeoutSeconds":15}`))
	f.Add([]byte(`{"address":"127.0.0.1:3389","security":"tls"}`))
	f.Add([]byte(`{"address":"[::1]:3389","security":"nla","width":8192,"height":200}`))
	f.Add([]byte(`{"address":"h:1","extra":1}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, line []byte) {
		c, err := parseConfig(line)
		if err != nil {
			return
		}
		if c.Address == "" || c.Width < minSide || c.Width > maxSide || c.Height < minSide || c.Height > maxSide ||
			c.DPI < minDPI || c.DPI > maxDPI || c.ConnectTimeoutSeconds < 1 || c.ConnectTimeoutSeconds > maxConnectTimeout {
			t.Fatalf("accepted out of bounds: %+v", c)
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := parseConfig(b)
		if err != nil || c2 != c {
			t.Fatalf("round trip: %+v -> %s -> %+v, %v", c, b, c2, err)
		}
	})
}
