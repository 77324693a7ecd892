package shell

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"sync"
)

// ensureMu serializes EnsureUser within the agent, so that two sessions
// asking for the same missing user do not race two useradd runs.
var ensureMu sync.Mutex

// EnsureUser makes sure a local user called name exists, the way Session
// Manager provisions ssm-user: when the agent runs as root and the user is
// missing, it creates an ordinary account with a home directory, its own
// group, no password and no supplementary groups (so no sudo or wheel); on
// Windows, when the agent runs as LocalSystem, a standard local account in
// Users only, with a random password kept nowhere. It reports whether it
// created the user.
//
// The name must match ^[a-z_][a-z0-9_-]{0,31}$; anything else fails with an
// error matching ErrInvalidUserName before any program runs. When the agent
// is not root, a missing user is an error matching ErrUnknownUser. An
// existing user is accepted as it is, whatever its privileges: the name is
// the operator's choice.
//
// Creating users needs useradd or busybox adduser on Linux, and is
// implemented there and on Windows; elsewhere a missing user fails with an
// error matching ErrUnsupported.
func EnsureUser(ctx context.Context, name string) (created bool, err error) {
	if !validUserName(name) {
		return false, fmt.Errorf("%w %q: must match %s", ErrInvalidUserName, name, userNameRE)
	}
	ensureMu.Lock()
	defer ensureMu.Unlock()

	exists, err := userExists(name)
	if err != nil || exists {
		return false, err
	}
	if !canCreateUsers {
		return false, fmt.Errorf("shell: create user %q: %w", name, ErrUnsupported)
	}
	if !Privileged() {
		return false, fmt.Errorf("%w; creating it requires the agent to run as root (on Windows, as LocalSystem: its service)", &unknownUserError{name})
	}
	if err := createUser(ctx, name); err != nil {
		// Someone else (another agent, an administrator) may have created
		// the user in the meantime; the tool then fails with "already
		// exists", but the caller got what it asked for.
		if ok, _ := userExists(name); ok {
			return false, nil
		}
		return false, err
	}
	if ok, err := userExists(name); !ok {
		if err == nil {
			err = errors.New("not found after creation")
		}
		return false, fmt.Errorf("shell: create user %q: %w", name, err)
	}
	return true, nil
}

// userExists reports whether name resolves to a user. Lookup failures other
// than "unknown user" are errors: saying no to a user who exists in a
// directory we could not reach would make EnsureUser create a local
// duplicate.
func userExists(name string) (bool, error) {
	_, err := user.Lookup(name)
	if err == nil {
		return true, nil
	}
	var unknown user.UnknownUserError
	if errors.As(err, &unknown) {
		return false, nil
	}
	return false, fmt.Errorf("shell: look up user %q: %w", name, err)
}
