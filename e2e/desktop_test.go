package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/delivery"
	"github.com/postern/postern/desktop/desktoptest"
	"github.com/postern/postern/guac"
	"github.com/postern/postern/store"
)

// desktopProgram builds postern-desktop (cgo, FreeRDP) for the server to
// run, once per test binary.
func desktopProgram(t *testing.T) string {
	t.Helper()
	desktopBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "postern-desktop-")
		if err != nil {
			desktopBuild.err = err
			return
		}
		desktopBuild.path = filepath.Join(dir, "postern-desktop")
		out, err := exec.Command("go", "build", "-o", desktopBuild.path, "github.com/postern/postern/cmd/postern-desktop").CombinedOutput()
		if err != nil {
			desktopBuild.err = fmt.Errorf("go build ./cmd/postern-desktop: %v\n%s", err, out)
		}
	})
	if desktopBuild.err != nil {
		if os.Getenv("POSTERN_REQUIRE_DESKTOP") == "" {
			t.Skipf("no desktop engine: %v", desktopBuild.err)
		}
		t.Fatal(desktopBuild.err)
	}
	return desktopBuild.path
}

var desktopBuild struct {
	once sync.Once
	path string
	err  error
}

// desktopEnv is a postern dev that shows desktops, with MinIO for the
// recordings and the connection recording preferences set to a bucket
// there, sealed with a key of the server's own.
func desktopEnv(t *testing.T, ctx context.Context, prefix string) (*env, *destinations) {
	t.Helper()
	prog := desktopProgram(t)
	d := startDestinations(t)
	cfg := filepath.Join(t.TempDir(), "postern.yaml")
	if err := os.WriteFile(cfg, []byte("cloudWatch:\n  use: builtin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startDevEnv(t, d.env(), "--config", cfg, "--desktop-program", prog)
	e.mustRun(ctx, "keys", "create", "--alias", "alias/desktop-recordings")
	prefs := writeFile(t, "desktop-prefs.json", `{"ConnectionRecordingPreferences": {
  "KMSKeyArn": "alias/desktop-recordings",
  "RecordingDestinations": {"S3Buckets": [{"BucketName": "`+plainBucket+`", "BucketOwner": "`+store.DefaultAccount+`"}]},
  "KeyPrefix": "`+prefix+`"}}`)
	e.mustRun(ctx, "desktop", "preferences", "set", "-f", prefs)
	return e, d
}

// TestDesktop is a remote desktop end to end, in Debian's Chromium driven
// by Playwright: a real RDP desktop (Xvfb, xterm, FreeRDP's shadow server
// with NLA) on this node, reached through the agent; the console connects
// with the desktop's password, shows its known colour, types into its
// window (the text lands in the xterm's file), is watched live, resizes
// and disconnects; the recording is delivered to MinIO with its metadata,
// plays in the console to the same colour, and exports to a video ffprobe
// accepts; a wrong password is a clear error and a failed session.
func TestDesktop(t *testing.T) {
	node, web := consoleDeps(t)
	ctx := testCtx(t)
	e, d := desktopEnv(t, ctx, "desktops")
	dt := desktoptest.Start(t, desktoptest.Options{})
	_, port, _ := strings.Cut(dt.Addr, ":")
	typed := "postern-typed-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	bg := fmt.Sprintf("#%02x%02x%02x", desktoptest.Background.R, desktoptest.Background.G, desktoptest.Background.B)
	cx, cy := dt.Xterm.Min.X+dt.Xterm.Dx()/2, dt.Xterm.Min.Y+dt.Xterm.Dy()/2
	out := runBrowserTestOutput(t, ctx, e, node, web, "desktop.mjs",
		"DESKTOP_NODE="+hostname(t), "DESKTOP_PORT="+port, "DESKTOP_USER="+dt.User, "DESKTOP_PASSWORD="+dt.Password,
		"DESKTOP_COLOR="+bg, "DESKTOP_POINT=5,5", fmt.Sprintf("DESKTOP_TYPE_AT=%d,%d", cx, cy), "DESKTOP_TEXT="+typed)
	var res struct {
		SessionID              string `json:"sessionId"`
		WrongPasswordSessionID string `json:"wrongPasswordSessionId"`
		WrongPasswordError     string `json:"wrongPasswordError"`
	}
	for _, line := range strings.Split(out, "\n") {
		if j, ok := strings.CutPrefix(line, "DESKTOP_RESULT "); ok {
			if err := json.Unmarshal([]byte(j), &res); err != nil {
				t.Fatalf("DESKTOP_RESULT: %v", err)
			}
		}
	}
	if res.SessionID == "" {
		t.Fatalf("the browser test printed no DESKTOP_RESULT:\n%s", out)
	}
	// What was typed in the browser reached the desktop's window.
	dt.WaitTyped(t, typed)

	// History: a terminated desktop session, and a failed one with the
	// reason; neither recorded as the other.
	ok := e.waitEnded(ctx, res.SessionID)
	failed := e.waitEnded(ctx, res.WrongPasswordSessionID)
	if ok.SessionType != "Desktop" || ok.Status != store.StatusTerminated {
		t.Errorf("the desktop session is %s %s (%s), want a Desktop session Terminated", ok.SessionType, ok.Status, ok.StatusReason)
	}
	if failed.Status != store.StatusFailed || failed.StatusReason != "DesktopAuthenticationFailed" {
		t.Errorf("the wrong password's session is %s %s, want Failed DesktopAuthenticationFailed", failed.Status, failed.StatusReason)
	}

	// The recording and its metadata, in the bucket.
	e.waitDelivered(ctx, res.SessionID)
	rec, _ := d.minio.Object(t, plainBucket, "desktops/"+res.SessionID+".guac")
	metaBytes, _ := d.minio.Object(t, plainBucket, "desktops/"+res.SessionID+".json")
	var meta delivery.DesktopMetadata
	if err := json.Unmarshal(metaBytes, &meta); err != nil {
		t.Fatalf("metadata: %v\n%s", err, metaBytes)
	}
	sum := sha256.Sum256(rec)
	if meta.ConnectionID != res.SessionID || meta.UserARN == "" || meta.NodeID == "" || meta.DesktopUser != dt.User ||
		meta.Recording.Bytes != int64(len(rec)) || meta.Recording.SHA256 != hex.EncodeToString(sum[:]) || meta.EndTime == nil {
		t.Errorf("metadata does not describe the recording:\n%s", metaBytes)
	}
	if local := e.logs(ctx, res.SessionID, "guac"); local != string(rec) {
		t.Errorf("postern logs get --format guac (%d bytes) differs from the delivered recording (%d bytes)", len(local), len(rec))
	}
	// It is the Guacamole protocol, and shows the known colour.
	scr := guac.NewScreen(guac.Limits{})
	r := guac.NewReader(strings.NewReader(string(rec)), 0)
	for {
		in, _, err := r.Next()
		if err != nil {
			break
		}
		if err := scr.Apply(in); err != nil {
			t.Fatalf("the recording does not draw: %v", err)
		}
	}
	if f := scr.Frame(); f == nil || !near(f.At(5, 5), desktoptest.Background) {
		t.Errorf("the recording's last frame does not show the desktop's background at (5,5)")
	}

	// Exported to a video an auditor can play.
	mp4 := filepath.Join(t.TempDir(), "desktop.mp4")
	e.mustRun(ctx, "desktop", "export", res.SessionID, "-o", mp4)
	probe, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_streams", "-of", "json", mp4).Output()
	if err != nil {
		t.Fatalf("ffprobe refuses the export: %v", err)
	}
	if !strings.Contains(string(probe), `"codec_name": "h264"`) {
		t.Errorf("ffprobe: %s", probe)
	}
}

// TestDesktopEngineKilled: the desktop program killed mid-connection ends
// that connection, with a message to the browser, and the session is
// recorded as failed with the reason, while the server goes on.
func TestDesktopEngineKilled(t *testing.T) {
	ctx := testCtx(t)
	e, _ := desktopEnv(t, ctx, "killed")
	dt := desktoptest.Start(t, desktoptest.Options{})
	_, port, _ := strings.Cut(dt.Addr, ":")
	// Started as a user does from the CLI: it prints the console's page.
	stdout, stderr, code := e.run(ctx, "desktop", hostname(t), "--port", port)
	id, ok := strings.CutPrefix(strings.TrimSpace(stdout), "Starting desktop session with SessionId: ")
	if code != 0 || !ok || !strings.Contains(stderr, "/#/desktop/"+id) {
		t.Fatalf("postern desktop: exit %d\n%s%s", code, stdout, stderr)
	}
	c := e.api()
	sess, err := c.Session(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if sess.SessionType != "Desktop" || sess.StreamURL != "/v1/sessions/"+id+"/desktop" {
		t.Fatalf("the session is %+v", sess)
	}
	ws, err := c.DialDesktop(ctx, sess.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, guac.Encode("login", dt.User, dt.Password, "", "nla", "1024", "768", "96")); err != nil {
		t.Fatal(err)
	}
	// Once the desktop shows (a sync), kill the engine.
	next := desktopReader(ctx, ws)
	for in := range next {
		if in.Opcode == "error" {
			t.Fatalf("error before the desktop showed: %v", in.Args)
		}
		if in.Opcode == "sync" {
			ws.Write(ctx, websocket.MessageText, guac.Encode("sync", in.Args[0]))
			break
		}
	}
	killDesktopEngines(t)
	var last []string
	for in := range next {
		if in.Opcode == "error" {
			last = in.Args
			break
		}
	}
	if len(last) < 2 || !strings.Contains(last[0], "desktop program stopped unexpectedly") {
		t.Fatalf("the browser was told %q, want that the desktop program stopped", last)
	}
	if st, _ := strconv.Atoi(last[1]); guac.Status(st) != guac.StatusServerError {
		t.Errorf("status %s, want %d (server error)", last[1], guac.StatusServerError)
	}
	got := e.waitEnded(ctx, sess.ID)
	if got.Status != store.StatusFailed || got.StatusReason != "DesktopProgramFailed" {
		t.Errorf("session %s %s, want Failed DesktopProgramFailed", got.Status, got.StatusReason)
	}
	// The server serves on.
	e.mustRun(ctx, "exec", hostname(t), "--", "true")

	// Preferences that could only refuse every connection are refused
	// themselves, each mistake named; the ones in force stay.
	bad := writeFile(t, "bad-prefs.json", `{"ConnectionRecordingPreferences": {"KMSKeyArn": "", "RecordingDestinations": {"S3Buckets": [{"BucketName": "Bad_Name", "BucketOwner": "1"}]}}}`)
	_, errOut, code := e.run(ctx, "desktop", "preferences", "set", "-f", bad)
	for _, want := range []string{"KMSKeyArn: a key is required", "S3Buckets[0].BucketName", "S3Buckets[0].BucketOwner"} {
		if code == 0 || !strings.Contains(errOut, want) {
			t.Errorf("bad preferences: exit %d, %q; want it to say %q", code, errOut, want)
		}
	}
	missing := writeFile(t, "missing-bucket.json", `{"ConnectionRecordingPreferences": {"KMSKeyArn": "alias/desktop-recordings", "RecordingDestinations": {"S3Buckets": [{"BucketName": "no-such-bucket", "BucketOwner": "`+store.DefaultAccount+`"}]}}}`)
	if _, errOut, code := e.run(ctx, "desktop", "preferences", "set", "-f", missing); code == 0 || !strings.Contains(errOut, "no-such-bucket") {
		t.Errorf("preferences naming a bucket that does not exist: exit %d, %q", code, errOut)
	}
	if out := e.mustRun(ctx, "desktop", "preferences", "get"); !strings.Contains(out, `"KeyPrefix": "killed"`) {
		t.Errorf("the preferences in force changed:\n%s", out)
	}
}

// desktopReader yields the instructions a desktop WebSocket receives.
func desktopReader(ctx context.Context, ws *websocket.Conn) func(func(guac.Instruction) bool) {
	return func(yield func(guac.Instruction) bool) {
		for {
			_, msg, err := ws.Read(ctx)
			if err != nil {
				return
			}
			r := guac.NewReader(bufio.NewReader(strings.NewReader(string(msg))), 0)
			for {
				in, _, err := r.Next()
				if err != nil {
					break
				}
				if !yield(in) {
					return
				}
			}
		}
	}
}

// killDesktopEngines SIGKILLs every postern-desktop process of this test.
func killDesktopEngines(t *testing.T) {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	killed := 0
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", ent.Name(), "exe"))
		if err == nil && exe == desktopBuild.path {
			syscall.Kill(pid, syscall.SIGKILL)
			killed++
		}
	}
	if killed == 0 {
		t.Fatal("no postern-desktop process to kill")
	}
}

// near reports whether c is within a few levels of want on each channel
// (a lossless path gives it exactly; a few levels allow for a codec).
func near(c color.Color, want color.RGBA) bool {
	r, g, b, _ := c.RGBA()
	d := func(x uint32, y uint8) bool { return max(int(x>>8), int(y))-min(int(x>>8), int(y)) <= 8 }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}
