//go:build windows

package shell

import (
	"context"
	"crypto/rand"
	"fmt"
	"os/user"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Privileged reports whether the agent runs as LocalSystem (its service
// does): it may then run sessions as other local accounts and create
// ssm-user, as root may on Linux.
func Privileged() bool {
	_, sid, err := agentAccount()
	return err == nil && sid.IsWellKnown(windows.WinLocalSystemSid)
}

// IsRoot reports whether u is one of Windows' counterparts of root, whom
// sessions run as only where the preferences allow it: LocalSystem, the
// local and network service accounts, and the built-in Administrator
// (relative id 500, whatever it was renamed to).
func IsRoot(u *user.User) bool {
	switch u.Uid {
	case "S-1-5-18", "S-1-5-19", "S-1-5-20":
		return true
	}
	return strings.HasPrefix(u.Uid, "S-1-5-21-") && strings.HasSuffix(u.Uid, "-500")
}

// Windows accounts are created with NetUserAdd.
const canCreateUsers = true

var procNetUserAdd = windows.NewLazySystemDLL("netapi32.dll").NewProc("NetUserAdd")

// userInfo1 is USER_INFO_1.
type userInfo1 struct {
	Name, Password *uint16
	PasswordAge    uint32
	Priv           uint32
	HomeDir        *uint16
	Comment        *uint16
	Flags          uint32
	ScriptPath     *uint16
}

const (
	userPrivUser       = 1       // USER_PRIV_USER: a standard user, in Users only
	ufScript           = 0x1     // required by NetUserAdd
	ufDontExpirePasswd = 0x10000 // its password is never used, so it must not expire into a prompt
	nerrUserExists     = 2224
)

// createUser adds a standard local account called name, as Session
// Manager provisions ssm-user, but in the Users group only, as on Linux
// (not Administrators: an operator who wants that adds it). Its password
// is long and random and kept nowhere: sessions log it on by S4U (see
// logonAs), which takes none, and nobody can sign in with it.
func createUser(ctx context.Context, name string) error {
	pw, err := randomPassword()
	if err != nil {
		return fmt.Errorf("shell: create user %q: %w", name, err)
	}
	n, _ := windows.UTF16PtrFromString(name)
	p, _ := windows.UTF16PtrFromString(pw)
	c, _ := windows.UTF16PtrFromString("Postern sessions (created by postern-agent)")
	info := userInfo1{Name: n, Password: p, Priv: userPrivUser, Comment: c, Flags: ufScript | ufDontExpirePasswd}
	var parm uint32
	r, _, _ := procNetUserAdd.Call(0, 1, uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&parm)))
	clear(unsafe.Slice(p, len(pw)))
	switch r {
	case 0:
		return nil
	case nerrUserExists:
		return nil // created meanwhile: EnsureUser looks again
	}
	return fmt.Errorf("shell: create user %q: NetUserAdd: %w", name, windows.Errno(r))
}

// randomPassword is 32 characters from crypto/rand with each of the four
// classes a complexity policy asks for.
func randomPassword() (string, error) {
	const classes = "ABCDEFGHJKLMNPQRSTUVWXYZ" + "abcdefghijkmnopqrstuvwxyz" + "23456789" + "!#%+-.:=?@_~"
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	out := []byte("Aa2!") // one of each class, then the rest at random
	for _, v := range b[4:] {
		out = append(out, classes[int(v)%len(classes)])
	}
	return string(out), nil
}
