//go:build !linux && !darwin && !windows

package shell

import (
	"errors"
	"testing"
)

func TestUnsupported(t *testing.T) {
	_, err := Start(t.Context(), Spec{})
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Start = %v, want ErrUnsupported", err)
	}
}
