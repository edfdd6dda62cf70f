//go:build !linux

package lambdarun

import "syscall"

// sysProcAttr puts RIE in its own process group, so it and what it leaves
// can be signalled together.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
