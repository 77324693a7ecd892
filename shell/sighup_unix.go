//go:build unix

package shell

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// hupSink takes the SIGHUPs of a process that ignored them when it
// started: see childrenHearHangup. Nobody reads it; once it holds one,
// package signal drops the rest rather than block.
var hupSink = make(chan os.Signal, 1)

var hangupOnce sync.Once

// childrenHearHangup makes the commands this process starts take SIGHUP's
// default action (end), as a login's processes do, even if this process
// was started with SIGHUP ignored (under nohup, say): an ignored signal
// stays ignored across exec, and Close and the end of Start's context
// would then reach the command only with SIGKILL, after the grace period,
// giving it no chance to save anything. A handler, unlike SIG_IGN, is
// reset by exec; this one drops what it gets, so this process keeps
// ignoring SIGHUP as it was started to.
func childrenHearHangup() {
	hangupOnce.Do(func() {
		if signal.Ignored(syscall.SIGHUP) {
			signal.Notify(hupSink, syscall.SIGHUP)
		}
	})
}
