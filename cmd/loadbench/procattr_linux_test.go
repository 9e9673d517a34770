package main

import (
	"os"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	cases := []struct {
		name string
		line string
		want float64
		ok   bool
	}{
		{"utime and stime are summed and read in hundredths of a second",
			"4242 (kube-apiserver) S 1 4242 4242 0 -1 4194560 1 0 0 0 250 75 0 0 20 0 12 0 100 0 0", 3.25, true},
		{"a command name with spaces and parentheses does not shift the fields",
			"7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5 0 0", 0.03, true},
		{"a line cut before stime is not read", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 1", 0, false},
		{"a line without the command's parentheses is not read", "7 x R 1 7 7 0 -1 0 0 0 0 0 1 2", 0, false},
		{"a field that is not a number is not read", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 one 2 0", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseStatCPU([]byte(tc.line))
			if ok != tc.ok || got != tc.want {
				t.Errorf("parseStatCPU = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestCPUSecondsReadsThisProcessAndNotAMissingOne(t *testing.T) {
	if _, ok := cpuSeconds(os.Getpid()); !ok {
		t.Error("this process's CPU time could not be read")
	}
	if _, ok := cpuSeconds(-1); ok {
		t.Error("a process that cannot exist was read")
	}
}

func TestCPUMovedIsPerOperationAndSkipsProcessesNotReadBefore(t *testing.T) {
	moved := cpuMoved(map[string]float64{"etcd": 1.0}, map[string]float64{"etcd": 1.5, "flinkgate-1": 2}, 100)
	if got := moved[series{cpuFamily, "etcd"}]; got != [2]float64{0.5, 100} {
		t.Errorf("etcd moved %v, want 0.5 s over 100 operations", got)
	}
	if _, ok := moved[series{cpuFamily, "flinkgate-1"}]; ok {
		t.Error("a process not read before the block was counted")
	}
}
