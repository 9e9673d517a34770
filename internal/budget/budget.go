// Package budget measures what one call allocates and how long it takes,
// for the fuzz targets' and the hostile corpus's resource oracles.
package budget

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

// The per-request budget of docs/security.md, "Bounds": a request may allocate at most
// MaxAlloc bytes in total (garbage included) and use at most MaxTime of CPU.
// CPU time rather than wall time, because on a shared machine wall time
// measures the neighbours' load as much as the call.
const (
	MaxAlloc = 64 << 20
	MaxTime  = time.Second
)

// Usage is what one call cost.
type Usage struct {
	Alloc uint64
	// Took is the wall time, CPU the process's CPU time (user and system,
	// garbage collection included) while the call ran.
	Took, CPU time.Duration
}

func (u Usage) String() string {
	return fmt.Sprintf("%.2f MiB allocated, %v CPU in %v", float64(u.Alloc)/(1<<20), u.CPU.Round(time.Microsecond), u.Took.Round(time.Microsecond))
}

// Within reports whether the usage is inside MaxAlloc and MaxTime.
func (u Usage) Within() bool { return u.Alloc <= MaxAlloc && u.CPU <= MaxTime }

// Measure runs f and returns what it allocated (runtime.MemStats.TotalAlloc,
// so garbage counts), the CPU time the process used meanwhile, and the wall
// time.
func Measure(f func()) Usage {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu := cpuTime()
	start := time.Now()
	f()
	took := time.Since(start)
	cpu = cpuTime() - cpu
	runtime.ReadMemStats(&after)
	return Usage{Alloc: after.TotalAlloc - before.TotalAlloc, Took: took, CPU: cpu}
}

var (
	mu      sync.Mutex
	largest Usage
)

// Record remembers the largest allocation seen in this process and, when
// FLINKGATE_FUZZ_STATS names a file, appends each new maximum to it, so a
// fuzzing run can report the largest allocation across its workers.
func Record(u Usage) {
	mu.Lock()
	defer mu.Unlock()
	if u.Alloc <= largest.Alloc {
		return
	}
	largest = u
	path := os.Getenv("FLINKGATE_FUZZ_STATS")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%d %d %d\n", u.Alloc, u.Took.Nanoseconds(), u.CPU.Nanoseconds())
}
