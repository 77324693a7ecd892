package rollout_test

import (
	"os"
	"testing"

	"github.com/postern/postern/rollout"
	"github.com/postern/postern/stacktemplate"
)

// FuzzDecodeDeployed: what an instance keeps of its resources, however it
// reads, decodes or fails, never panics, and what decodes encodes back
// to the same.
func FuzzDecodeDeployed(f *testing.F) {
	src, err := os.ReadFile("testdata/baseline.yaml")
	if err != nil {
		f.Fatal(err)
	}
	tmpl, err := stacktemplate.Parse("baseline.yaml", src)
	if err != nil {
		f.Fatal(err)
	}
	rs, err := tmpl.Render(stacktemplate.Env{AccountID: "123456789012", Region: "local", StackName: "Baseline", PhysicalIDs: map[string]string{"Key": "0d2f6a4e-8c1b-4e7a-9f3d-5b6c7d8e9f01"}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	var ds []rollout.Deployed
	for _, r := range rs {
		d, err := rollout.Record(r)
		if err != nil {
			f.Fatal(err)
		}
		ds = append(ds, d)
	}
	text, err := rollout.EncodeDeployed(ds)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(text)
	f.Add(`[{"logicalId":"A","type":"AWS::KMS::Alias","properties":{"AliasName":"alias/x","TargetKeyId":"k"}}]`)
	f.Add(`[{"type":"AWS::SSM::Document","properties":{"Content":{"schemaVersion":"1.0","sessionType":"Port"}}}]`)
	f.Add(`[{"type":"Nope","properties":{}}]`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, text string) {
		ds, err := rollout.DecodeDeployed(text)
		if err != nil {
			return
		}
		for _, d := range ds {
			p, err := d.Want()
			if err != nil {
				continue
			}
			if p.ResourceType() != d.Type {
				t.Fatalf("properties of %s decoded as %s", d.Type, p.ResourceType())
			}
			// What decodes has no differences with itself.
			if diffs := stacktemplate.Diff(p, p); len(diffs) != 0 {
				t.Fatalf("%s differs from itself: %+v", d.Type, diffs)
			}
		}
	})
}
