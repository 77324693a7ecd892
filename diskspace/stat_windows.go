package diskspace

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows"
)

// Stat returns the usage of the filesystem that holds dir.
func Stat(dir string) (Usage, error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return Usage{}, fmt.Errorf("diskspace: %s: %w", dir, err)
	}
	var free, total, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, &total, &totalFree); err != nil {
		return Usage{}, fmt.Errorf("diskspace: free space of %s: %w", dir, err)
	}
	return Usage{Free: free, Total: total}, nil
}

func fullOS(err error) bool {
	return errors.Is(err, windows.ERROR_DISK_FULL) || errors.Is(err, windows.ERROR_HANDLE_DISK_FULL)
}
