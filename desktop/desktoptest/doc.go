// Package desktoptest starts a real RDP server for tests: a virtual X display
// (Xvfb) with known content, a solid background colour and an xterm showing a
// marker string, shared over RDP by FreeRDP's shadow server
// (freerdp-shadow-cli) on loopback, with NLA against a user name and
// password of its own or with TLS only. Text typed into the xterm (ended by
// Enter) lands in a file the test reads with Typed, so a test can check that
// keystrokes sent over RDP arrived.
//
// The shadow server has neither the clipboard nor the Display Control
// channel: StartXrdp starts xrdp with xrdp-sesman and an xorgxrdp session
// instead, whose X clipboard a test sets and reads with xclip.
//
// It needs Debian's xvfb, freerdp2-shadow-x11, xterm, x11-xserver-utils and
// xdotool; StartXrdp needs root, xrdp, xorgxrdp and xclip. Without them a test is skipped, unless POSTERN_REQUIRE_DESKTOP=1
// (then it fails), so CI cannot silently skip the desktop tests.
//
// It is Linux only: elsewhere the package is empty.
package desktoptest
