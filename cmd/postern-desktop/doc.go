// Command postern-desktop is Postern's RDP engine: the server starts one
// per desktop connection. It connects to a node's RDP server with FreeRDP 2
// (through cgo, so a crash in a decoder ends one connection, not the
// server), reads a JSON config line and then the viewer's Guacamole
// instructions (keys, mouse, sync acks, refresh, disconnect, clipboard
// text, size) on stdin, and writes the desktop as Guacamole instructions
// (size, PNG images of the changed rectangles, sync, the desktop's
// clipboard text) on stdout; logs go to stderr. The clipboard goes through
// RDP's cliprdr channel and the viewer's size through the Display Control
// channel, FreeRDP's client addins, where the server has them. DESKTOP.md
// in the lead's notes and README.md's desktop section give the contract.
//
// Exit status: 0 after a clean end, 1 after a failure reported with an
// error instruction, 2 for a bad config. It runs on Linux only.
package main
