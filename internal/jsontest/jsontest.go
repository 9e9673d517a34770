// Package jsontest reads and prints JSON value trees for tests, keeping
// numbers exact (json.Number), as the codec and patch sets do.
package jsontest

import (
	"encoding/json"
	"strings"
	"testing"
)

// Decode reads one JSON value with its numbers as json.Number, or fails the
// test.
func Decode(t testing.TB, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

// Canonical prints a value as compact JSON with sorted keys, so two trees
// print alike exactly when they hold the same text.
func Canonical(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
