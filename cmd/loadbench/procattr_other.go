//go:build !linux

package main

import (
	"runtime"
	"syscall"
)

func childAttr() *syscall.SysProcAttr { return nil }

func numCPU() int { return runtime.GOMAXPROCS(0) }

// cpuSeconds is not measured outside Linux.
func cpuSeconds(int) (float64, bool) { return 0, false }
