//go:build windows

package agent

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// privateDir makes dir (and its parents) and gives it a protected access
// list: full control to SYSTEM, the Administrators and the agent's own
// user, nobody else, inherited by what is written in it. Unix modes mean
// nothing here: a folder under %ProgramData% would let every local user
// read the node's key. A folder that exists already and belongs to
// someone else is refused: its owner could change its access list back.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	tok, err := windows.OpenCurrentProcessToken()
	if err != nil {
		return fmt.Errorf("agent: the agent's token: %w", err)
	}
	defer tok.Close()
	me, err := tok.GetTokenUser()
	if err != nil {
		return fmt.Errorf("agent: the agent's user: %w", err)
	}
	system, _ := windows.CreateWellKnownSid(windows.WinLocalSystemSid)
	admins, _ := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("agent: %s: its owner: %w", dir, err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("agent: %s: its owner: %w", dir, err)
	}
	if owner != nil && !owner.Equals(me.User.Sid) && !owner.Equals(system) && !owner.Equals(admins) {
		return fmt.Errorf("agent: %s belongs to %s, not to this user, SYSTEM or the Administrators: remove it (its owner could read the node's key or change its identity)", dir, owner)
	}
	acl, err := windows.SecurityDescriptorFromString(fmt.Sprintf("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;%s)", me.User.Sid))
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	dacl, _, err := acl.DACL()
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if err := windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		return fmt.Errorf("agent: %s: its access list: %w", dir, err)
	}
	return nil
}
