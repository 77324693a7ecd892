//go:build !windows

package agent

import (
	"fmt"
	"os"
)

// privateDir makes dir (and its parents), 0700.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}
