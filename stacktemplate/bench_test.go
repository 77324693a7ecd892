package stacktemplate

import (
	"os"
	"strings"
	"testing"
)

// BenchmarkParse measures Parse on the baseline template and on templates
// at the size limit built to cost the most per byte: a flow list of
// one-character items (the most YAML nodes a byte can make), and
// resources' properties made of references (the most evaluation).
func BenchmarkParse(b *testing.B) {
	src, err := os.ReadFile(baseline)
	if err != nil {
		b.Fatal(err)
	}
	items := "Resources:\n  L: {Type: AWS::Logs::LogGroup}\nMetadata: [" + strings.Repeat("0,", (MaxSize-60)/2) + "0]\n"
	var refs strings.Builder
	refs.WriteString("Parameters:\n  P: {Type: String}\nResources:\n  Key:\n    Type: AWS::KMS::Key\n    Properties:\n      KeyPolicy: {Statement: [{Action: [")
	for refs.Len() < MaxSize-20 {
		refs.WriteString("!Ref P,")
	}
	refs.WriteString("!Ref P]}]}\n")
	for _, c := range []struct {
		name string
		src  []byte
	}{
		{"baseline", src},
		{"max-flow-list", []byte(items)},
		{"max-of-refs", []byte(refs.String())},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.src)))
			for b.Loop() {
				if _, err := Parse("b.yaml", c.src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
