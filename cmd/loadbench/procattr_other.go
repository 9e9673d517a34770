//go:build !linux

package main

import (
	"runtime"
	"syscall"
)

func childAttr() *syscall.SysProcAttr { return nil }

func numCPU() int { return runtime.GOMAXPROCS(0) }
