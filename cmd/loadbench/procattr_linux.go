package main

import (
	"runtime"
	"syscall"
)

// childAttr has the kernel kill the bare server if loadbench dies.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

func numCPU() int { return runtime.GOMAXPROCS(0) }
