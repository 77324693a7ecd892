//go:build windows

package shell

import (
	"context"
	"errors"
)

// Windows accounts are not created by the agent: sessions run as its own
// user (see checkUser).
const canCreateUsers = false

func createUser(ctx context.Context, name string) error { return errors.ErrUnsupported }
