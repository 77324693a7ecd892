//go:build !windows

package shell

// ServeConsoleChild returns at once: the go-between it serves exists on
// Windows only (see start_windows.go).
func ServeConsoleChild() {}
