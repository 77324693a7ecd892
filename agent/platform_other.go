//go:build !windows

package agent

// windowsVersion is "": this is not Windows (platformName reads
// /etc/os-release).
func windowsVersion() string { return "" }
