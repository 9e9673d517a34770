package main

import "testing"

func TestGoMemoryLimitLeavesRoomBelowTheContainersLimit(t *testing.T) {
	cases := []struct {
		name  string
		limit int64
		ratio float64
		env   string
		want  int64
	}{
		{name: "A 256 MiB container gives the runtime 224 MiB at the default ratio.", limit: 256 << 20, ratio: defaultMemoryLimitRatio, want: 224 << 20},
		{name: "Without a container limit the runtime's limit is left alone.", limit: 0, ratio: defaultMemoryLimitRatio, want: 0},
		{name: "GOMEMLIMIT set by the operator wins over the container's limit.", limit: 256 << 20, ratio: defaultMemoryLimitRatio, env: "128MiB", want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := goMemoryLimit(tc.limit, tc.ratio, tc.env); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestMemoryLimitFlagsAreChecked(t *testing.T) {
	cases := []struct {
		name  string
		limit int64
		ratio float64
		ok    bool
	}{
		{name: "The default ratio is accepted.", limit: 1 << 30, ratio: defaultMemoryLimitRatio, ok: true},
		{name: "A ratio that leaves the runtime no room is refused.", limit: 1 << 30, ratio: 1, ok: false},
		{name: "A ratio that wastes half the container is refused.", limit: 1 << 30, ratio: 0.3, ok: false},
		{name: "A negative limit is refused.", limit: -1, ratio: defaultMemoryLimitRatio, ok: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkMemoryLimitFlags(tc.limit, tc.ratio); (err == nil) != tc.ok {
				t.Errorf("error %v, want ok %v", err, tc.ok)
			}
		})
	}
}
