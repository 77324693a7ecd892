//go:build windows

package shell

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Running a session as another Windows account than the agent's takes a
// logon of that account. The agent knows no passwords, and keeps none: it
// logs the account on by Service for User (S4U), as Windows' own OpenSSH
// server does for key logins and the Task Scheduler for tasks that store
// no password. LSA hands a process holding the "act as part of the
// operating system" privilege (LocalSystem, which the agent's service runs
// as) a token for any local account, by name alone. The token has no
// network credentials: the session reaches other machines' shares as the
// machine, not as the user, as with a key login over SSH.
//
// The account's profile is loaded for the session (its registry hive and
// its folder, created at the first logon) and unloaded when the session's
// processes are gone.

// userLogon is a logon of an account for a session: its token and its
// loaded profile.
type userLogon struct {
	name    string // DOMAIN\account
	token   windows.Token
	profile windows.Handle // 0: not loaded
}

// close unloads the profile and closes the token.
func (l *userLogon) close() {
	if l == nil {
		return
	}
	if l.profile != 0 {
		procUnloadUserProfile.Call(uintptr(l.token), uintptr(l.profile))
	}
	l.token.Close()
}

var (
	secur32                = windows.NewLazySystemDLL("secur32.dll")
	procLsaRegisterLogon   = secur32.NewProc("LsaRegisterLogonProcess")
	procLsaLookupAuthPkg   = secur32.NewProc("LsaLookupAuthenticationPackage")
	procLsaLogonUser       = secur32.NewProc("LsaLogonUser")
	procLsaFreeReturnBuf   = secur32.NewProc("LsaFreeReturnBuffer")
	procLsaDeregisterLogon = secur32.NewProc("LsaDeregisterLogonProcess")
	procAllocateLUID       = windows.NewLazySystemDLL("advapi32.dll").NewProc("AllocateLocallyUniqueId")
	userenv                = windows.NewLazySystemDLL("userenv.dll")
	procLoadUserProfile    = userenv.NewProc("LoadUserProfileW")
	procUnloadUserProfile  = userenv.NewProc("UnloadUserProfile")
)

// lsaString is LSA_STRING: an ANSI string with its lengths.
type lsaString struct {
	Length, MaximumLength uint16
	Buffer                *byte
}

func newLSAString(s string) lsaString {
	b := append([]byte(s), 0)
	return lsaString{Length: uint16(len(s)), MaximumLength: uint16(len(b)), Buffer: &b[0]}
}

// unicodeString is UNICODE_STRING, whose Buffer here is an address inside
// the logon buffer it is part of.
type unicodeString struct {
	Length, MaximumLength uint16
	Buffer                uintptr
}

// s4uLogon is MSV1_0_S4U_LOGON; the strings follow it in the same buffer.
type s4uLogon struct {
	MessageType       uint32 // msv1_0S4ULogon
	Flags             uint32
	UserPrincipalName unicodeString
	DomainName        unicodeString
}

// tokenSource is TOKEN_SOURCE.
type tokenSource struct {
	SourceName       [8]byte
	SourceIdentifier windows.LUID
}

// profileInfo is PROFILEINFOW.
type profileInfo struct {
	Size        uint32
	Flags       uint32
	UserName    *uint16
	ProfilePath *uint16
	DefaultPath *uint16
	ServerName  *uint16
	PolicyPath  *uint16
	Profile     windows.Handle
}

const (
	msv1_0S4ULogon = 12
	logonNetwork   = 3 // SECURITY_LOGON_TYPE Network, as S4U takes it
	piNoUI         = 1
	// statusPrivilegeNotHeld is what LsaRegisterLogonProcess says to a
	// process without the TCB privilege.
	statusPrivilegeNotHeld = 0xC0000061
)

// errNeedsSystem explains why a run-as logon was refused.
var errNeedsSystem = errors.New("starting a session as another Windows account takes a logon only LocalSystem may make: run the agent as its service (postern-agent.exe service install), which runs as LocalSystem")

// lookupAccount resolves name (account, or DOMAIN\account) to a local user
// account: its SID and its name as DOMAIN\account.
func lookupAccount(name string) (*windows.SID, string, error) {
	sid, domain, typ, err := windows.LookupSID("", name)
	if errors.Is(err, windows.ERROR_NONE_MAPPED) {
		return nil, "", &unknownUserError{name}
	}
	if err != nil {
		return nil, "", fmt.Errorf("shell: look up user %q: %w", name, err)
	}
	if typ != windows.SidTypeUser {
		return nil, "", fmt.Errorf("shell: run as %q: it is not a user account (it is a %s)", name, sidTypeName(typ))
	}
	account, _, _, err := sid.LookupAccount("")
	if err != nil {
		return nil, "", fmt.Errorf("shell: look up user %q: %w", name, err)
	}
	host, err := windows.ComputerName()
	if err == nil && !strings.EqualFold(domain, host) {
		return nil, "", fmt.Errorf("shell: run as %s\\%s: only local accounts of this machine (%s) can be run as: %w", domain, account, host, ErrUnsupported)
	}
	return sid, domain + `\` + account, nil
}

func sidTypeName(t uint32) string {
	switch t {
	case windows.SidTypeGroup, windows.SidTypeWellKnownGroup, windows.SidTypeAlias:
		return "group or built-in account"
	case windows.SidTypeDomain:
		return "domain"
	case windows.SidTypeComputer:
		return "computer"
	}
	return fmt.Sprintf("account of type %d", t)
}

// logonAs logs the local account name (DOMAIN\account, as lookupAccount
// gives it) on by S4U and loads its profile.
func logonAs(name string) (*userLogon, error) {
	_, account, _ := strings.Cut(name, `\`)
	origin := newLSAString("postern-agent")
	var lsa windows.Handle
	var mode uint32
	if st, _, _ := procLsaRegisterLogon.Call(uintptr(unsafe.Pointer(&origin)), uintptr(unsafe.Pointer(&lsa)), uintptr(unsafe.Pointer(&mode))); st != 0 {
		if st == statusPrivilegeNotHeld {
			return nil, fmt.Errorf("shell: run as %s: %w", name, errNeedsSystem)
		}
		return nil, fmt.Errorf("shell: run as %s: connect to the local security authority: %w", name, ntError(st))
	}
	defer procLsaDeregisterLogon.Call(uintptr(lsa))
	pkgName := newLSAString("MICROSOFT_AUTHENTICATION_PACKAGE_V1_0")
	var pkg uint32
	if st, _, _ := procLsaLookupAuthPkg.Call(uintptr(lsa), uintptr(unsafe.Pointer(&pkgName)), uintptr(unsafe.Pointer(&pkg))); st != 0 {
		return nil, fmt.Errorf("shell: run as %s: the MSV1_0 package: %w", name, ntError(st))
	}
	info := s4uLogonBuffer(account, ".")
	var source tokenSource
	copy(source.SourceName[:], "postern")
	if r, _, err := procAllocateLUID.Call(uintptr(unsafe.Pointer(&source.SourceIdentifier))); r == 0 {
		return nil, fmt.Errorf("shell: run as %s: %w", name, err)
	}
	var (
		profile     uintptr
		profileSize uint32
		logonID     windows.LUID
		token       windows.Token
		quotas      [6]uintptr // QUOTA_LIMITS
		subStatus   int32
	)
	st, _, _ := procLsaLogonUser.Call(uintptr(lsa), uintptr(unsafe.Pointer(&origin)), logonNetwork, uintptr(pkg),
		uintptr(unsafe.Pointer(&info[0])), uintptr(len(info)), 0, uintptr(unsafe.Pointer(&source)),
		uintptr(unsafe.Pointer(&profile)), uintptr(unsafe.Pointer(&profileSize)), uintptr(unsafe.Pointer(&logonID)),
		uintptr(unsafe.Pointer(&token)), uintptr(unsafe.Pointer(&quotas[0])), uintptr(unsafe.Pointer(&subStatus)))
	if profile != 0 {
		procLsaFreeReturnBuf.Call(profile)
	}
	if st != 0 {
		return nil, fmt.Errorf("shell: run as %s: logon: %w (sub-status %#x)", name, ntError(st), uint32(subStatus))
	}
	l := &userLogon{name: name, token: token}
	if err := l.loadProfile(account); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// s4uLogonBuffer is an MSV1_0_S4U_LOGON for account of domain, its
// strings after it in the same buffer (LSA copies the buffer whole, and
// takes the strings' addresses as pointing into it).
func s4uLogonBuffer(account, domain string) []byte {
	a, d := windows.StringToUTF16(account), windows.StringToUTF16(domain)
	a, d = a[:len(a)-1], d[:len(d)-1] // counted, not NUL-terminated
	head := int(unsafe.Sizeof(s4uLogon{}))
	buf := make([]byte, head+2*(len(a)+len(d)))
	base := uintptr(unsafe.Pointer(&buf[0]))
	h := (*s4uLogon)(unsafe.Pointer(&buf[0]))
	h.MessageType = msv1_0S4ULogon
	h.UserPrincipalName = unicodeString{Length: uint16(2 * len(a)), MaximumLength: uint16(2 * len(a)), Buffer: base + uintptr(head)}
	h.DomainName = unicodeString{Length: uint16(2 * len(d)), MaximumLength: uint16(2 * len(d)), Buffer: base + uintptr(head+2*len(a))}
	copy(unsafe.Slice((*uint16)(unsafe.Pointer(&buf[head])), len(a)), a)
	copy(unsafe.Slice((*uint16)(unsafe.Pointer(&buf[head+2*len(a)])), len(d)), d)
	return buf
}

// loadProfile loads the account's profile (creating it at its first
// logon), so that the session has its own folder and registry.
func (l *userLogon) loadProfile(account string) error {
	if err := profilePrivileges(); err != nil {
		return fmt.Errorf("shell: run as %s: load its profile: %w", l.name, err)
	}
	user, _ := windows.UTF16PtrFromString(account)
	pi := profileInfo{Flags: piNoUI, UserName: user}
	pi.Size = uint32(unsafe.Sizeof(pi))
	if r, _, err := procLoadUserProfile.Call(uintptr(l.token), uintptr(unsafe.Pointer(&pi))); r == 0 {
		return fmt.Errorf("shell: run as %s: load its profile: %w", l.name, err)
	}
	l.profile = pi.Profile
	return nil
}

// profilePrivileges enables the backup and restore privileges that
// loading another account's profile takes, once: the agent's service
// (LocalSystem) holds them, and sessions load profiles concurrently, so
// they stay enabled rather than being turned on and off around each.
var profilePrivileges = sync.OnceValue(func() error {
	var tok windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_ADJUST_PRIVILEGES|windows.TOKEN_QUERY, &tok); err != nil {
		return err
	}
	defer tok.Close()
	for _, name := range []string{"SeBackupPrivilege", "SeRestorePrivilege"} {
		var luid windows.LUID
		p, _ := windows.UTF16PtrFromString(name)
		if err := windows.LookupPrivilegeValue(nil, p, &luid); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		tp := windows.Tokenprivileges{PrivilegeCount: 1}
		tp.Privileges[0] = windows.LUIDAndAttributes{Luid: luid, Attributes: windows.SE_PRIVILEGE_ENABLED}
		if err := windows.AdjustTokenPrivileges(tok, false, &tp, 0, nil, nil); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if errno := windows.GetLastError(); errno == windows.ERROR_NOT_ALL_ASSIGNED {
			return fmt.Errorf("%s is not held: %w", name, errNeedsSystem)
		}
	}
	return nil
})

// ntError is an NTSTATUS as an error.
func ntError(st uintptr) error { return windows.NTStatus(uint32(st)) }

// agentAccount is the agent's own account, as DOMAIN\account, and its SID.
func agentAccount() (string, *windows.SID, error) {
	tok, err := windows.OpenCurrentProcessToken()
	if err != nil {
		return "", nil, fmt.Errorf("shell: the agent's token: %w", err)
	}
	defer tok.Close()
	u, err := tok.GetTokenUser()
	if err != nil {
		return "", nil, fmt.Errorf("shell: the agent's user: %w", err)
	}
	sid, err := u.User.Sid.Copy()
	if err != nil {
		return "", nil, fmt.Errorf("shell: the agent's user: %w", err)
	}
	account, domain, _, err := sid.LookupAccount("")
	if err != nil {
		return "", nil, fmt.Errorf("shell: the agent's user: %w", err)
	}
	return domain + `\` + account, sid, nil
}

// userFor resolves the run-as user name of a session: nil for the agent's
// own (name "" or the agent's account), a logon of the account otherwise.
func userFor(name string) (*userLogon, error) {
	if name == "" {
		return nil, nil
	}
	me, mySID, err := agentAccount()
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(name, me) || strings.EqualFold(name, me[strings.IndexByte(me, '\\')+1:]) {
		return nil, nil
	}
	sid, full, err := lookupAccount(name)
	if err != nil {
		return nil, err
	}
	if sid.Equals(mySID) {
		return nil, nil
	}
	return logonAs(full)
}
