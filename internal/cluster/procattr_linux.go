package cluster

import "syscall"

// sysProcAttr puts a child in its own process group, so that stopping it
// reaches everything it started and a terminal's Ctrl-C reaches only us (we
// then stop it in order), and asks the kernel to kill it if we die.
//
// Pdeathsig fires when the thread that started the child exits. Go only ends
// threads whose goroutine locked them and exited; nothing here locks threads,
// so in practice it fires when the process dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
