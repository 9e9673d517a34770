package webhook

import (
	"encoding/json"
	"fmt"
	"sort"

	"flinkgate.io/flinkgate/patchset"
)

// jsonPatchOp is one RFC 6902 operation of an admission response.
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// createPatch computes the JSON patch that turns before into after, both
// marshalled the same way. Mappings are diffed key by key; anything else that
// differs is replaced whole, which is what a ConfigMap's changes need.
func createPatch(before, after any) ([]byte, error) {
	a, err := toJSONValue(before)
	if err != nil {
		return nil, err
	}
	b, err := toJSONValue(after)
	if err != nil {
		return nil, err
	}
	var ops []jsonPatchOp
	diffValues("", a, b, &ops)
	if len(ops) == 0 {
		return nil, nil
	}
	out, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("marshal json patch: %w", err)
	}
	return out, nil
}

func toJSONValue(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("marshal object: %w", err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("unmarshal object: %w", err)
	}
	return out, nil
}

func diffValues(path string, a, b any, ops *[]jsonPatchOp) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok {
		if !patchset.Equal(a, b) {
			*ops = append(*ops, jsonPatchOp{Op: "replace", Path: path, Value: b})
		}
		return
	}
	keys := make([]string, 0, len(am)+len(bm))
	for k := range am {
		keys = append(keys, k)
	}
	for k := range bm {
		if _, ok := am[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := path + "/" + patchset.EscapeToken(k)
		av, inA := am[k]
		bv, inB := bm[k]
		switch {
		case !inB:
			*ops = append(*ops, jsonPatchOp{Op: "remove", Path: p})
		case !inA:
			*ops = append(*ops, jsonPatchOp{Op: "add", Path: p, Value: bv})
		default:
			diffValues(p, av, bv, ops)
		}
	}
}
