//go:build windows

package agent

import (
	"strings"

	"golang.org/x/sys/windows/registry"
)

// windowsVersion names this Windows as its registry does ("Windows Server
// 2022 Datacenter 21H2 (build 20348)"), or "" if it cannot be read.
func windowsVersion() string {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Windows NT\CurrentVersion`, registry.QUERY_VALUE)
	if err != nil {
		return ""
	}
	defer k.Close()
	name, _, err := k.GetStringValue("ProductName")
	if err != nil || name == "" {
		return ""
	}
	parts := []string{name}
	if v, _, err := k.GetStringValue("DisplayVersion"); err == nil && v != "" {
		parts = append(parts, v)
	}
	if b, _, err := k.GetStringValue("CurrentBuild"); err == nil && b != "" {
		parts = append(parts, "(build "+b+")")
	}
	return strings.Join(parts, " ")
}
