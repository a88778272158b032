//go:build linux || darwin || freebsd || netbsd || openbsd

package pipeline

import "syscall"

// freeBytes is the space on dir's filesystem available to this user
// (excluding blocks reserved for root, like df's "Avail").
func freeBytes(dir string) (uint64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true
}
