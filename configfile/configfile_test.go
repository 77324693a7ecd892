package configfile

import (
	"strings"
	"testing"
)

type inner struct {
	Bucket string `json:"bucket"`
}

type embedded struct {
	Region string `json:"region"`
}

type config struct {
	Listen string            `json:"listen"`
	Hosts  []string          `json:"hosts"`
	S3     *inner            `json:"s3"`
	Tags   map[string]inner  `json:"tags"`
	Extra  map[string]string `json:"extra"`
	embedded
}

func TestUnknownFields(t *testing.T) {
	var c config
	if err := Unmarshal("ok.yaml", []byte("listen: :8443\nhosts: [a]\ns3: {bucket: b}\nregion: eu\nextra: {anything: x}\n"), &c); err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":8443" || c.S3.Bucket != "b" || c.Region != "eu" {
		t.Fatalf("decoded %+v", c)
	}
	err := Unmarshal("postern.yaml", []byte("hosts: [a]\nlistn: :8443\ns3:\n  buckt: b\ntags:\n  x: {bucket: y, nope: 1}\nregoin: eu\n"), &config{})
	for _, want := range []string{
		`postern.yaml:2: unknown field "listn" (did you mean listen?)`,
		`postern.yaml:4: unknown field "s3.buckt" (did you mean bucket?)`,
		`postern.yaml:6: unknown field "tags.x.nope"`,
		`postern.yaml:7: unknown field "regoin" (did you mean region?)`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v; want it to contain %q", err, want)
		}
	}
	// Not an unknown field: the decoder's own error, named.
	if err := Unmarshal("bad.yaml", []byte("listen: [1, 2]\n"), &config{}); err == nil || !strings.HasPrefix(err.Error(), "bad.yaml: ") {
		t.Errorf("wrong type: %v", err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte("listen: :8443\nlistn: x\n"))
	f.Add([]byte("s3: {buckt: 1}\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c config
		Unmarshal("f.yaml", data, &c) // must not panic
	})
}
