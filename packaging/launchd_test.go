package packaging

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestLaunchdPlist: the macOS agent's launchd property list is well
// formed, names the agent where its install steps put it, and asks it for
// what its command line takes (launchd itself runs on macOS only: not
// here).
func TestLaunchdPlist(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("darwin", "com.postern.agent.plist"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Dict struct {
			Items []struct {
				XMLName xml.Name
				Text    string   `xml:",chardata"`
				Strings []string `xml:"string"`
			} `xml:",any"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("the plist is not well-formed XML: %v", err)
	}
	got := map[string]any{}
	var key string
	for _, it := range doc.Dict.Items {
		switch it.XMLName.Local {
		case "key":
			key = it.Text
		case "array":
			got[key] = it.Strings
		case "true", "false":
			got[key] = it.XMLName.Local == "true"
		default:
			got[key] = it.Text
		}
	}
	if got["Label"] != "com.postern.agent" || got["RunAtLoad"] != true || got["KeepAlive"] != true {
		t.Errorf("plist: %v", got)
	}
	args, _ := got["ProgramArguments"].([]string)
	if len(args) < 2 || args[0] != "/usr/local/bin/postern-agent" || !slices.Equal(args[1:], []string{"run", "--dir", "/var/lib/postern-agent"}) {
		t.Fatalf("ProgramArguments %q", args)
	}
	// The agent takes those arguments (here asked for its help with
	// them, which parses them and runs nothing).
	cmd := exec.Command("go", append([]string{"run", "../cmd/postern-agent"}, append(args[1:], "--help")...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("postern-agent %v --help: %v\n%s", args[1:], err, out)
	}
}
