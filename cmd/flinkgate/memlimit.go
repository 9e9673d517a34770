package main

import (
	"fmt"
	"runtime/debug"
)

// defaultMemoryLimitRatio is the share of the container's memory limit
// given to the Go runtime as its soft limit: the collector then works
// harder as the heap nears it, with room left for what the runtime does
// not count (stacks of idle goroutines, fragmentation, the binary) before
// the kernel kills the container.
const defaultMemoryLimitRatio = 0.875

// goMemoryLimit is the Go memory limit for a container limit of limit
// bytes: ratio of it, or 0 (leave the runtime's) when there is no limit,
// or GOMEMLIMIT is set, which wins.
func goMemoryLimit(limit int64, ratio float64, goMemLimitEnv string) int64 {
	if limit <= 0 || goMemLimitEnv != "" {
		return 0
	}
	return int64(float64(limit) * ratio)
}

// checkMemoryLimitFlags refuses a ratio that leaves no room or none for
// the runtime.
func checkMemoryLimitFlags(limit int64, ratio float64) error {
	if limit < 0 {
		return fmt.Errorf("--memory-limit=%d: want the container's limit in bytes, or 0 for none", limit)
	}
	if ratio < 0.5 || ratio > 0.95 {
		return fmt.Errorf("--memory-limit-ratio=%g: want between 0.5 and 0.95", ratio)
	}
	return nil
}

// applyMemoryLimit sets the Go memory limit from the container's, and
// returns what it set (0: nothing).
func applyMemoryLimit(limit int64, ratio float64, goMemLimitEnv string) int64 {
	n := goMemoryLimit(limit, ratio, goMemLimitEnv)
	if n > 0 {
		debug.SetMemoryLimit(n)
	}
	return n
}
