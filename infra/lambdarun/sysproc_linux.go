package lambdarun

import "syscall"

// sysProcAttr puts RIE in its own process group (so it and what it leaves
// can be signalled together) and ends it if this process dies first.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
