//go:build linux && cgo

package main

/*
#cgo pkg-config: freerdp2 freerdp-client2 winpr2
#include <stdlib.h>
#include <string.h>
#include "rdp.h"
*/
import "C"

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log"
	"net"
	"os"
	"runtime"
	"runtime/cgo"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/postern/postern/guac"
)

func main() {
	runtime.LockOSThread() // FreeRDP's loop runs here, on the main thread
	os.Exit(run(os.Stdin, os.Stdout, log.New(os.Stderr, "postern-desktop: ", log.LstdFlags|log.Lmsgprefix)))
}

// Exit statuses (DESKTOP.md).
const (
	exitOK        = 0
	exitFailed    = 1 // reported with an error instruction
	exitBadConfig = 2
)

func run(stdin io.Reader, stdout io.Writer, logger *log.Logger) int {
	in := bufio.NewReaderSize(stdin, maxConfigLine)
	line, err := readConfigLine(in)
	if err == nil {
		var cfg Config
		cfg, err = parseConfig(line)
		if err == nil {
			clear(line) // the password's bytes
			e := &engine{cfg: cfg, out: newOutput(stdout), log: logger, display: newDisplay(time.Now)}
			return e.run(in)
		}
	}
	logger.Print(err)
	return exitBadConfig
}

// engine is one connection.
type engine struct {
	cfg     Config
	out     *output
	log     *log.Logger
	display *display

	ctx   *C.rdpContext
	state atomic.Int32 // stateConnecting, then stateConnected or stateTimedOut
	quit  atomic.Bool  // the viewer asked to disconnect (or stdin closed)

	stdoutGone atomic.Bool // writing a frame failed
	configDir  string      // FreeRDP's config path, removed at the end

	certMu sync.Mutex // guards cert
	cert   string     // the server certificate's SHA-256, hex

	wakeMu sync.RWMutex // guards freed: the context is freed under the write lock
	freed  bool

	inputMu sync.Mutex // guards input
	input   []rdpInput // for the loop to send, in order

	rects []image.Rectangle // goPaint's, reused; the loop's only

	clipMu   sync.Mutex // guards clipText
	clipText []byte     // the viewer's clipboard as CF_UNICODETEXT; nil for none

	dispMu     sync.Mutex  // guards the Display Control state below
	dispReady  bool        // the server sent its Display Control caps
	maxArea    uint64      // from the caps: the most pixels a layout may have
	wantSize   *viewerSize // the viewer's latest size, not sent yet
	lastResize time.Time   // when a layout was last sent
	sentSize   viewerSize  // what was last sent
}

// resizeInterval is the least time between two layouts sent to the
// desktop: a browser window being dragged sends many sizes, and every
// layout makes the server redo its session's screen.
const resizeInterval = time.Second

// MS-RDPBCGR's security protocols (FreeRDP's nego.h is not installed):
// CredSSP, that is NLA, with and without the Early User Authorization PDU.
const (
	protocolHybrid   = 0x2
	protocolHybridEx = 0x8
)

// The connect's states: the timeout and the end of freerdp_connect race
// for the first change.
const (
	stateConnecting int32 = iota
	stateConnected
	stateTimedOut
)

// rdpInput is one input event for the RDP loop to send.
type rdpInput struct {
	announce bool // the viewer's clipboard changed: tell the desktop
	key      *keyEvent
	mouse    bool
	flags    uint16
	x, y     uint16
}

func (e *engine) run(in *bufio.Reader) int {
	h := cgo.NewHandle(e)
	defer h.Delete()
	// FreeRDP reads these at its first log line; they could make it log
	// credentials (and to stdout).
	for _, v := range []string{"WLOG_LEVEL", "WLOG_FILTER", "WLOG_APPENDER", "WLOG_FILEAPPENDER_OUTPUT_FILE_PATH"} {
		os.Unsetenv(v)
	}
	C.pd_log_to_stderr()
	e.ctx = C.pd_new(C.uintptr_t(h))
	if e.ctx == nil {
		return e.fail("could not start the RDP client (out of memory?)", guac.StatusServerError)
	}
	defer func() {
		// The input reader may still wake the loop: not once the
		// context is gone.
		e.wakeMu.Lock()
		e.freed = true
		e.wakeMu.Unlock()
		C.pd_free(e.ctx)
	}()
	// FreeRDP's certificate store makes directories and a known_hosts2
	// file under its config path (~/.config/freerdp by default) while it
	// connects: nothing is to be stored (certificates are accepted for the
	// connection only), so it gets a directory of its own, removed once
	// connected (only a SIGKILL during the connect leaves it behind).
	configDir, err := os.MkdirTemp("", "postern-desktop-")
	if err != nil {
		return e.fail("could not start the RDP client: "+err.Error(), guac.StatusServerError)
	}
	defer os.RemoveAll(configDir)
	e.configDir = configDir
	if err := e.configure(); err != nil {
		return e.fail(err.Error(), guac.StatusServerError)
	}

	// FreeRDP 2 does not check its abort event while it waits for the
	// server's first answers, so a server that accepts and stays silent
	// would hold the connect forever: at the timeout the program reports
	// it and exits (it is one connection; nothing else is lost).
	timeout := time.Duration(e.cfg.ConnectTimeoutSeconds) * time.Second
	timer := time.AfterFunc(timeout, func() {
		if e.state.CompareAndSwap(stateConnecting, stateTimedOut) {
			e.log.Printf("connect timed out after %v", timeout)
			e.fail(fmt.Sprintf("the desktop did not answer within %d seconds", e.cfg.ConnectTimeoutSeconds), guac.StatusUpstreamTimeout)
			os.RemoveAll(configDir)
			os.Exit(exitFailed)
		}
	})
	e.log.Printf("connecting to %s (security %s, user %q)", e.cfg.Address, e.cfg.Security, e.cfg.Username)
	ok := C.freerdp_connect(e.ctx.instance) != 0
	timer.Stop()
	os.RemoveAll(configDir)
	if !e.state.CompareAndSwap(stateConnecting, stateConnected) {
		select {} // the timer is ending the program
	}
	if !ok {
		code := uint32(C.freerdp_get_last_error(e.ctx))
		msg, status := e.connectError(code)
		e.log.Printf("connect failed: %s (FreeRDP 0x%08X %s)", msg, code, C.GoString(C.freerdp_get_last_error_name(C.UINT32(code))))
		return e.fail(msg, status)
	}
	defer C.freerdp_disconnect(e.ctx.instance)

	w, hgt := int(e.ctx.gdi.width), int(e.ctx.gdi.height)
	e.certMu.Lock()
	cert := e.cert
	e.certMu.Unlock()
	e.log.Printf("connected: %dx%d, certificate sha256 %s", w, hgt, cert)
	if err := e.out.write(guac.Append(nil, "postern-connected", cert, strconv.Itoa(w), strconv.Itoa(hgt))); err != nil {
		e.log.Printf("stdout: %v", err)
		return exitFailed
	}

	ctx, cancel := context.WithCancel(context.Background())
	sent := make(chan error, 1)
	go func() {
		err := e.display.run(ctx, e.out, newEncoder())
		if err != nil {
			// stdout is gone: nobody sees the desktop any more.
			e.stdoutGone.Store(true)
			e.wake()
		}
		sent <- err
	}()
	// The reader ends with stdin (or the process): it only queues input
	// and sets flags, and the loop below never waits for it.
	go e.readInput(in)

	for C.pd_wait(e.ctx, 100) != 0 && !e.quit.Load() && !e.stdoutGone.Load() {
		e.sendInput()
		e.resizeIfDue(time.Now())
	}
	cancel()
	if err := <-sent; err != nil {
		e.log.Printf("stdout: %v", err)
		return exitFailed
	}
	if e.quit.Load() {
		e.log.Print("disconnected as asked")
		return exitOK
	}
	code := uint32(C.freerdp_get_last_error(e.ctx))
	errInfo := uint32(C.freerdp_error_info(e.ctx.instance))
	if code>>16 == 1 || errInfo != 0 && code == 0 {
		// The server sent an error info PDU: logoff, admin disconnect,
		// idle timeout, another connection took over.
		if errInfo == 0 {
			errInfo = code & 0xFFFF
		}
		reason := C.GoString(C.freerdp_get_error_info_string(C.UINT32(errInfo)))
		e.log.Printf("the desktop ended the session: %s (error info 0x%X)", reason, errInfo)
		e.out.write(guac.ErrorInstruction("the desktop ended the session: "+reason, guac.StatusSessionClosed))
		return exitOK
	}
	e.log.Printf("connection lost (FreeRDP 0x%08X %s)", code, C.GoString(C.freerdp_get_last_error_name(C.UINT32(code))))
	return e.fail("the connection to the desktop was lost", guac.StatusUpstreamError)
}

// fail reports an error to the viewer; the exit status for it.
func (e *engine) fail(msg string, status guac.Status) int {
	if err := e.out.write(guac.ErrorInstruction(msg, status)); err != nil {
		e.log.Printf("stdout: %v", err)
	}
	return exitFailed
}

func (e *engine) configure() error {
	s := e.ctx.settings
	var errs []error
	str := func(id C.size_t, v string) {
		cs := C.CString(v)
		defer func() {
			C.memset(unsafe.Pointer(cs), 0, C.size_t(len(v)))
			C.free(unsafe.Pointer(cs))
		}()
		if C.freerdp_settings_set_string(s, id, cs) == 0 {
			errs = append(errs, fmt.Errorf("setting %d", id))
		}
	}
	u32 := func(id C.size_t, v int) {
		if C.freerdp_settings_set_uint32(s, id, C.UINT32(v)) == 0 {
			errs = append(errs, fmt.Errorf("setting %d", id))
		}
	}
	boolean := func(id C.size_t, v bool) {
		b := C.BOOL(0)
		if v {
			b = 1
		}
		if C.freerdp_settings_set_bool(s, id, b) == 0 {
			errs = append(errs, fmt.Errorf("setting %d", id))
		}
	}
	if strings.HasPrefix(e.cfg.Address, "/") {
		// FreeRDP connects to a host name starting with '/' as a Unix
		// socket (libfreerdp/core/tcp.c, freerdp_uds_connect).
		str(C.FreeRDP_ServerHostname, e.cfg.Address)
	} else {
		// parseConfig checked it.
		h, port, _ := net.SplitHostPort(e.cfg.Address)
		p, _ := strconv.Atoi(port)
		str(C.FreeRDP_ServerHostname, h)
		u32(C.FreeRDP_ServerPort, p)
	}
	str(C.FreeRDP_ConfigPath, e.configDir)
	if e.cfg.Username != "" {
		str(C.FreeRDP_Username, e.cfg.Username)
	}
	if e.cfg.Password != "" {
		str(C.FreeRDP_Password, e.cfg.Password)
	}
	if e.cfg.Domain != "" {
		str(C.FreeRDP_Domain, e.cfg.Domain)
	}
	e.cfg.Password = ""
	u32(C.FreeRDP_DesktopWidth, e.cfg.Width)
	u32(C.FreeRDP_DesktopHeight, e.cfg.Height)
	u32(C.FreeRDP_ColorDepth, 32)
	u32(C.FreeRDP_TcpConnectTimeout, e.cfg.ConnectTimeoutSeconds*1000)
	boolean(C.FreeRDP_SoftwareGdi, true)
	boolean(C.FreeRDP_IgnoreCertificate, false) // the callback records the fingerprint
	boolean(C.FreeRDP_AutoReconnectionEnabled, false)
	// The clipboard (cliprdr) and resizing from the viewer (the Display
	// Control channel on drdynvc); servers without them ignore them.
	boolean(C.FreeRDP_RedirectClipboard, true)
	boolean(C.FreeRDP_SupportDisplayControl, true)
	sec := e.cfg.Security
	boolean(C.FreeRDP_NlaSecurity, sec == "any" || sec == "nla")
	boolean(C.FreeRDP_TlsSecurity, sec == "any" || sec == "tls")
	boolean(C.FreeRDP_RdpSecurity, sec == "any" || sec == "rdp")
	boolean(C.FreeRDP_ExtSecurity, false)
	if e.cfg.DPI != defaultDPI {
		// MS-RDPBCGR allows a desktop scale factor of 100-500 percent
		// (a device scale factor of 100, 140 or 180: 100 here).
		u32(C.FreeRDP_DesktopScaleFactor, scaleFactor(e.cfg.DPI))
		u32(C.FreeRDP_DeviceScaleFactor, 100)
	}
	return errors.Join(errs...)
}

// connectError is what the viewer is told about a failed connect
// (DESKTOP.md's mapping), from FreeRDP's last error.
func (e *engine) connectError(code uint32) (string, guac.Status) {
	e.certMu.Lock()
	tlsUp := e.cert != ""
	e.certMu.Unlock()
	selected := uint32(C.freerdp_settings_get_uint32(e.ctx.settings, C.FreeRDP_SelectedProtocol))
	switch code {
	case C.FREERDP_ERROR_CONNECT_TRANSPORT_FAILED, C.FREERDP_ERROR_CONNECT_FAILED:
		if !tlsUp {
			// FreeRDP 2.11 does not tell a refused TCP connect from one
			// that broke later (tcp.c never checks SO_ERROR after its
			// non-blocking connect): find out by dialing once more.
			if err := e.probe(); err != nil {
				return "could not reach the node's RDP server: " + err.Error(), guac.StatusUpstreamNotFound
			}
		} else if selected&(protocolHybrid|protocolHybridEx) != 0 {
			// The server closed the connection during NLA, after TLS:
			// what servers without CredSSP error codes (FreeRDP's,
			// older Windows) do with credentials they refuse.
			return "the desktop refused the user name or password", guac.StatusClientUnauthorized
		}
	}
	detail := C.GoString(C.freerdp_get_last_error_string(C.UINT32(code)))
	switch code {
	case C.FREERDP_ERROR_AUTHENTICATION_FAILED, C.FREERDP_ERROR_CONNECT_LOGON_FAILURE,
		C.FREERDP_ERROR_CONNECT_WRONG_PASSWORD, C.FREERDP_ERROR_CONNECT_ACCESS_DENIED,
		C.FREERDP_ERROR_SERVER_DENIED_CONNECTION:
		return "the desktop refused the user name or password", guac.StatusClientUnauthorized
	case C.FREERDP_ERROR_CONNECT_ACCOUNT_DISABLED, C.FREERDP_ERROR_CONNECT_ACCOUNT_LOCKED_OUT,
		C.FREERDP_ERROR_CONNECT_ACCOUNT_EXPIRED, C.FREERDP_ERROR_CONNECT_ACCOUNT_RESTRICTION,
		C.FREERDP_ERROR_CONNECT_PASSWORD_EXPIRED, C.FREERDP_ERROR_CONNECT_PASSWORD_MUST_CHANGE,
		C.FREERDP_ERROR_CONNECT_PASSWORD_CERTAINLY_EXPIRED, C.FREERDP_ERROR_CONNECT_LOGON_TYPE_NOT_GRANTED,
		C.FREERDP_ERROR_INSUFFICIENT_PRIVILEGES, C.FREERDP_ERROR_SERVER_INSUFFICIENT_PRIVILEGES:
		return "the desktop refused the user: " + detail, guac.StatusClientUnauthorized
	case C.FREERDP_ERROR_CONNECT_FAILED, C.FREERDP_ERROR_DNS_ERROR, C.FREERDP_ERROR_DNS_NAME_NOT_FOUND:
		return "could not reach the node's RDP server: " + detail, guac.StatusUpstreamNotFound
	case C.FREERDP_ERROR_CONNECT_NO_OR_MISSING_CREDENTIALS:
		return "the desktop requires Network Level Authentication: give a user name and password", guac.StatusUpstreamError
	case C.FREERDP_ERROR_SECURITY_NEGO_CONNECT_FAILED:
		return fmt.Sprintf("security negotiation with the desktop failed (security %q: it may require or refuse NLA)", e.cfg.Security), guac.StatusUpstreamError
	case C.FREERDP_ERROR_TLS_CONNECT_FAILED:
		return "the TLS connection to the desktop failed", guac.StatusUpstreamError
	case C.FREERDP_ERROR_CONNECT_CANCELLED:
		return "the connection to the desktop was cancelled", guac.StatusUpstreamError
	}
	return "the desktop connection failed: " + detail, guac.StatusUpstreamError
}

// probe dials the RDP server's address once, to tell why FreeRDP's
// connect failed.
func (e *engine) probe() error {
	network := "tcp"
	if strings.HasPrefix(e.cfg.Address, "/") {
		network = "unix"
	}
	c, err := net.DialTimeout(network, e.cfg.Address, time.Duration(e.cfg.ConnectTimeoutSeconds)*time.Second)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			return op.Err // "connect: connection refused", without Go's prefix
		}
		return err
	}
	c.Close()
	return nil
}

// readInput reads the viewer's instructions until stdin ends, then asks
// the loop to disconnect.
func (e *engine) readInput(in io.Reader) {
	defer func() {
		e.quit.Store(true)
		e.wake()
	}()
	r := guac.NewReader(in, guac.MaxInstruction)
	kb := newKeyboard()
	var mouseMask int
	var clip clipboardIn
	for {
		ins, _, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				e.log.Printf("stdin: %v", err)
			}
			return
		}
		switch ins.Opcode {
		case "disconnect":
			return
		case "sync":
			if len(ins.Args) >= 1 {
				if ts, err := strconv.ParseInt(ins.Args[0], 10, 64); err == nil {
					e.display.ack(ts)
				}
			}
		case "refresh":
			e.display.requestRefresh()
		case "key":
			if len(ins.Args) < 2 {
				continue
			}
			sym, err1 := strconv.ParseUint(ins.Args[0], 10, 32)
			if err1 != nil {
				continue
			}
			evs := kb.key(uint32(sym), ins.Args[1] == "1")
			in := make([]rdpInput, len(evs))
			for i := range evs {
				in[i] = rdpInput{key: &evs[i]}
			}
			e.queue(in...)
		case "mouse":
			if len(ins.Args) < 3 {
				continue
			}
			x, err1 := strconv.Atoi(ins.Args[0])
			y, err2 := strconv.Atoi(ins.Args[1])
			mask, err3 := strconv.Atoi(ins.Args[2])
			if err1 != nil || err2 != nil || err3 != nil {
				continue
			}
			e.queue(mouseEvents(mouseMask, mask, clamp16(x), clamp16(y))...)
			mouseMask = mask
		case "clipboard":
			if len(ins.Args) >= 2 {
				clip.start(ins.Args[0], ins.Args[1])
			}
		case "blob":
			if len(ins.Args) >= 2 {
				clip.blob(ins.Args[0], ins.Args[1])
			}
		case "end":
			if len(ins.Args) < 1 {
				continue
			}
			text, ok, err := clip.end(ins.Args[0])
			if err != nil {
				e.log.Printf("clipboard from the viewer ignored: %v", err)
			} else if ok {
				e.setClipboard(text)
			}
		case "size":
			if s, ok := parseSize(ins.Args, e.cfg.DPI); ok {
				e.dispMu.Lock()
				e.wantSize = &s
				e.dispMu.Unlock()
				e.wake()
			} else {
				e.log.Printf("size %.60q ignored", strings.Join(ins.Args, ","))
			}
		}
	}
}

func clamp16(v int) uint16 { return uint16(max(0, min(v, 0xFFFF))) }

// mouseEvents are the RDP pointer events for the mouse moving to x, y with
// buttons mask after prev (guacamole's mask: 1 left, 2 middle, 4 right,
// 8 scroll up, 16 scroll down).
func mouseEvents(prev, mask int, x, y uint16) []rdpInput {
	evs := []rdpInput{{mouse: true, flags: C.PTR_FLAGS_MOVE, x: x, y: y}}
	buttons := []struct {
		bit   int
		flags uint16
	}{{1, C.PTR_FLAGS_BUTTON1}, {2, C.PTR_FLAGS_BUTTON3}, {4, C.PTR_FLAGS_BUTTON2}}
	for _, b := range buttons {
		if prev&b.bit != mask&b.bit {
			f := b.flags
			if mask&b.bit != 0 {
				f |= C.PTR_FLAGS_DOWN
			}
			evs = append(evs, rdpInput{mouse: true, flags: f, x: x, y: y})
		}
	}
	// A wheel notch per press of the scroll "button" (120 units).
	if mask&8 != 0 && prev&8 == 0 {
		evs = append(evs, rdpInput{mouse: true, flags: C.PTR_FLAGS_WHEEL | 0x0078, x: x, y: y})
	}
	if mask&16 != 0 && prev&16 == 0 {
		evs = append(evs, rdpInput{mouse: true, flags: C.PTR_FLAGS_WHEEL | C.PTR_FLAGS_WHEEL_NEGATIVE | 0x0088, x: x, y: y})
	}
	return evs
}

// setClipboard makes text the desktop's clipboard: the desktop is told
// there is text and asks for it when something there pastes.
func (e *engine) setClipboard(text string) {
	e.clipMu.Lock()
	e.clipText = unicodeText(text)
	e.clipMu.Unlock()
	e.log.Printf("clipboard from the viewer: %d bytes", len(text))
	e.queue(rdpInput{announce: true})
}

// resizeIfDue sends the viewer's latest size to the desktop through the
// Display Control channel, at most once per resizeInterval; without the
// channel it waits (for ever, on servers that have none).
func (e *engine) resizeIfDue(now time.Time) {
	e.dispMu.Lock()
	due := e.dispReady && e.wantSize != nil && now.Sub(e.lastResize) >= resizeInterval
	var s viewerSize
	if due {
		s = fitArea(*e.wantSize, e.maxArea)
		e.wantSize = nil
		due = s != e.sentSize || s.width != int(e.ctx.gdi.width) || s.height != int(e.ctx.gdi.height)
	}
	if due {
		e.lastResize, e.sentSize = now, s
	}
	e.dispMu.Unlock()
	if !due {
		return
	}
	// The physical size in millimetres, from the DPI.
	pw, ph := s.width*254/(s.dpi*10), s.height*254/(s.dpi*10)
	if C.pd_disp_send(e.ctx, C.UINT32(s.width), C.UINT32(s.height), C.UINT32(scaleFactor(s.dpi)), C.UINT32(pw), C.UINT32(ph)) == 0 {
		e.log.Printf("resize to %dx%d: the Display Control channel refused it", s.width, s.height)
		return
	}
	e.log.Printf("asked the desktop for %dx%d (dpi %d)", s.width, s.height, s.dpi)
}

// queue hands input to the loop and wakes it.
func (e *engine) queue(in ...rdpInput) {
	if len(in) == 0 {
		return
	}
	e.inputMu.Lock()
	e.input = append(e.input, in...)
	e.inputMu.Unlock()
	e.wake()
}

// wake makes the loop look at its flags and input now.
func (e *engine) wake() {
	e.wakeMu.RLock()
	defer e.wakeMu.RUnlock()
	if !e.freed {
		C.pd_wake(e.ctx)
	}
}

// sendInput sends the queued input, on the loop's thread (FreeRDP's
// transport is the loop's).
func (e *engine) sendInput() {
	e.inputMu.Lock()
	in := e.input
	e.input = nil
	e.inputMu.Unlock()
	input := e.ctx.input
	for _, ev := range in {
		switch {
		case ev.announce:
			// Not ready yet: the channel's Monitor Ready announces it.
			C.pd_clipboard_announce(e.ctx)
		case ev.mouse:
			C.freerdp_input_send_mouse_event(input, C.UINT16(ev.flags), C.UINT16(ev.x), C.UINT16(ev.y))
		case ev.key.unicode:
			var f C.UINT16
			if !ev.key.down {
				f = C.KBD_FLAGS_RELEASE
			}
			C.freerdp_input_send_unicode_keyboard_event(input, f, C.UINT16(ev.key.code))
		default:
			down := C.BOOL(0)
			if ev.key.down {
				down = 1
			}
			// The extended bit is KBDEXT (0x100), as scancode's extFlag.
			C.freerdp_input_send_keyboard_event_ex(input, down, C.UINT32(ev.key.code))
		}
	}
}

//export goPaint
func goPaint(handle C.uintptr_t, buf *C.BYTE, width, height C.INT32, stride C.UINT32, rgns *C.GDI_RGN, n C.INT32) {
	e := cgo.Handle(handle).Value().(*engine)
	e.rects = e.rects[:0]
	for _, r := range unsafe.Slice(rgns, int(n)) {
		e.rects = append(e.rects, image.Rect(int(r.x), int(r.y), int(r.x+r.w), int(r.y+r.h)))
	}
	// The buffer is FreeRDP's, valid during this call; paint copies.
	src := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(stride)*int(height))
	e.display.paint(src, int(stride), e.rects)
}

//export goResize
func goResize(handle C.uintptr_t, buf *C.BYTE, width, height C.INT32, stride C.UINT32) {
	e := cgo.Handle(handle).Value().(*engine)
	src := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(stride)*int(height))
	e.log.Printf("desktop size %dx%d", width, height)
	e.display.resize(src, int(width), int(height), int(stride))
}

//export goCertificate
func goCertificate(handle C.uintptr_t, fingerprint *C.char, flags C.DWORD) {
	e := cgo.Handle(handle).Value().(*engine)
	fp := C.GoString(fingerprint)
	// FreeRDP gives the SHA-256 as "ab:cd:...".
	fp = strings.ToLower(strings.ReplaceAll(fp, ":", ""))
	e.certMu.Lock()
	e.cert = fp
	e.certMu.Unlock()
}

//export goLogonErrorInfo
func goLogonErrorInfo(handle C.uintptr_t, data, typ C.UINT32) {
	e := cgo.Handle(handle).Value().(*engine)
	e.log.Printf("logon info: %s [%s]", C.GoString(C.freerdp_get_logon_error_info_data(data)), C.GoString(C.freerdp_get_logon_error_info_type(typ)))
}

//export goClipboardHasText
func goClipboardHasText(handle C.uintptr_t) C.int {
	e := cgo.Handle(handle).Value().(*engine)
	e.clipMu.Lock()
	defer e.clipMu.Unlock()
	if e.clipText == nil {
		return 0
	}
	return 1
}

// goClipboardData is the viewer's text as CF_UNICODETEXT in memory from
// malloc (the caller frees it), or NULL when there is none.
//
//export goClipboardData
func goClipboardData(handle C.uintptr_t, n *C.UINT32) *C.BYTE {
	e := cgo.Handle(handle).Value().(*engine)
	e.clipMu.Lock()
	defer e.clipMu.Unlock()
	if e.clipText == nil {
		return nil
	}
	*n = C.UINT32(len(e.clipText))
	return (*C.BYTE)(C.CBytes(e.clipText))
}

//export goClipboardReceived
func goClipboardReceived(handle C.uintptr_t, format C.UINT32, data *C.BYTE, n C.UINT32) {
	e := cgo.Handle(handle).Value().(*engine)
	// Whatever the server claims, no more than this is read: the
	// longest text that could fit in maxClipboard, with its NUL.
	limit := 2*maxClipboard + 2
	if format == formatText {
		limit = maxClipboard + 1
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(data)), int(min(uint64(n), uint64(limit)+1)))
	// decodeClipboard refuses a text that runs past limit.
	text, ok := decodeClipboard(uint32(format), b)
	if !ok {
		e.log.Printf("clipboard from the desktop ignored: %d bytes in format %d (at most %d bytes of text)", n, format, maxClipboard)
		return
	}
	e.log.Printf("clipboard from the desktop: %d bytes", len(text))
	if err := e.out.write(appendClipboard(nil, text)); err != nil {
		e.stdoutGone.Store(true)
		e.wake()
	}
}

//export goDisplayControlCaps
func goDisplayControlCaps(handle C.uintptr_t, maxMonitors, factorA, factorB C.UINT32) {
	e := cgo.Handle(handle).Value().(*engine)
	e.dispMu.Lock()
	e.dispReady = true
	// MS-RDPEDISP bounds: at most 16 monitors, factors of at most 8192
	// (which also keeps the product from overflowing).
	e.maxArea = uint64(max(1, min(factorA, 8192))) * uint64(max(1, min(factorB, 8192))) * uint64(max(1, min(maxMonitors, 16)))
	e.dispMu.Unlock()
	e.log.Printf("display control: at most %d monitors of %dx%d", maxMonitors, factorA, factorB)
	e.wake()
}
