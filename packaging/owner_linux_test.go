package packaging

import (
	"io/fs"
	"strconv"
	"syscall"
)

// ownedBy reports whether fi's owner is uid.
func ownedBy(fi fs.FileInfo, uid string) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && strconv.Itoa(int(st.Uid)) == uid
}
