package packaging

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestContainerBuildSteps runs the container image's build steps
// (deploy/container/Dockerfile's RUN lines after the module download) in
// a clone of the repository, as far as this machine allows: no image is
// pulled or built here. The binary they make is static (nothing for an
// empty base image to lack), says the version it was given, and the
// image's tree holds its configuration and a state directory only its
// user may enter.
func TestContainerBuildSteps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the image is Linux")
	}
	f, err := os.Open(filepath.Join("..", "deploy", "container", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The build stage's RUN lines, continuations joined.
	var runs []string
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur != "" {
			cur += " " + strings.TrimSuffix(line, "\\")
			if !strings.HasSuffix(line, "\\") {
				runs, cur = append(runs, cur), ""
			}
			continue
		}
		if rest, ok := strings.CutPrefix(line, "RUN "); ok && rest != "go mod download" {
			if strings.HasSuffix(rest, "\\") {
				cur = strings.TrimSuffix(rest, "\\")
				continue
			}
			runs = append(runs, rest)
		}
	}
	if len(runs) != 2 || !strings.Contains(runs[0], "go build") {
		t.Fatalf("the Dockerfile's build steps: %q", runs)
	}
	top := strings.TrimSpace(string(run(t, "git", "rev-parse", "--show-toplevel")))
	src := filepath.Join(t.TempDir(), "src")
	run(t, "git", "clone", "-q", top, src)
	out := filepath.Join(t.TempDir(), "out")
	for _, step := range runs {
		step = strings.NewReplacer("/out/", out+"/", "${VERSION}", "7.7.7", "${COMMIT}", "c0ffee").Replace(step)
		if os.Getuid() != 0 {
			step = strings.Replace(step, "&& chown -R 65532:65532", "&& true", 1) // only root gives files away
		}
		cmd := exec.Command("sh", "-c", step)
		cmd.Dir = src
		runCmd(t, cmd)
	}
	bin := filepath.Join(out, "usr", "bin", "postern")
	e, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range e.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the image's binary asks for a dynamic loader: an empty base has none")
		}
	}
	if libs, _ := e.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the image's binary needs %v", libs)
	}
	e.Close()
	if got := string(run(t, bin, "version")); got != "postern 7.7.7\ncommit c0ffee\n" {
		t.Errorf("version: %q", got)
	}
	if fi, err := os.Stat(filepath.Join(out, "var", "lib", "postern")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the state directory: %v, %v", fi, err)
	}
	conf, err := os.ReadFile(filepath.Join(out, "etc", "postern", "server.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The configuration's agent downloads are in the image (the server
	// refuses to start on a directory that is not there), with the
	// image's agent, which says its version.
	m := regexp.MustCompile(`(?m)^agentDownloads: (\S+)$`).FindSubmatch(conf)
	if m == nil {
		t.Fatalf("the image's configuration names no agentDownloads:\n%s", conf)
	}
	agent := filepath.Join(out, string(m[1]), "postern-agent-7.7.7-linux-"+runtime.GOARCH)
	if got := string(run(t, agent, "version")); got != "postern-agent 7.7.7\ncommit c0ffee\n" {
		t.Errorf("the image's agent: %q", got)
	}
}
