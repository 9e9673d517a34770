package main

import (
	"strings"
	"testing"

	"flinkgate.io/flinkgate/internal/golden"
)

// TestChartREADMEIsGenerated holds the committed README to values.yaml and
// the template, as TestMetricsReference holds docs/metrics.md to the code.
func TestChartREADMEIsGenerated(t *testing.T) {
	got, err := generate("../flinkgate")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "../flinkgate/README.md", got, "go generate ./charts")
}

func TestParseValues(t *testing.T) {
	for _, tc := range []struct {
		name, values string
		want         []value
	}{
		{"A documented string is a row with its JSON default.",
			"# -- The tag.\ntag: v1\n",
			[]value{{"tag", "string", "`\"v1\"`", "The tag."}}},
		{"A documented number, flag and list keep their types.",
			"# -- N.\nn: 2\n# -- On.\non: false\n# -- Ports.\nports: [443, 6443]\n",
			[]value{{"n", "int", "`2`", "N."}, {"on", "bool", "`false`", "On."}, {"ports", "list", "`[443,6443]`", "Ports."}}},
		{"Continuation lines join the description with spaces.",
			"# -- One line\n# and the next.\nx: \"\"\n",
			[]value{{"x", "string", "`\"\"`", "One line and the next."}}},
		{"A documented mapping is one row whose default is its fields.",
			"# -- Resources.\nresources:\n  limits:\n    memory: 256Mi\n",
			[]value{{"resources", "object", "`{\"limits\":{\"memory\":\"256Mi\"}}`", "Resources."}}},
		{"An undocumented mapping is walked, and its fields are named by their path.",
			"image:\n  # -- Repository.\n  repository: r\n  # -- Tag.\n  tag: t\n",
			[]value{{"image.repository", "string", "`\"r\"`", "Repository."}, {"image.tag", "string", "`\"t\"`", "Tag."}}},
		{"A comment block before the documenting one is not part of the description.",
			"# Default values.\n\n# -- The name.\nname: \"\"\n",
			[]value{{"name", "string", "`\"\"`", "The name."}}},
		{"A plain comment above a group is not a description.",
			"# Who may do what.\nauthz:\n  # -- The mode.\n  mode: rbac\n",
			[]value{{"authz.mode", "string", "`\"rbac\"`", "The mode."}}},
		{"An @default line replaces the default shown.",
			"# -- The tag.\n# @default -- the chart's appVersion\ntag: \"\"\n",
			[]value{{"tag", "string", "the chart's appVersion", "The tag."}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseValues([]byte(tc.values))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d rows %+v, want %+v", len(got), got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("row %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestParseValuesRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, values, want string
	}{
		{"A value without a \"# --\" comment is refused, naming it and its line.",
			"# -- Documented.\na: 1\nimage:\n  tag: v1\n", `image.tag (line 4) has no "# --" comment`},
		{"A plain comment does not document a value.",
			"# The tag.\ntag: v1\n", `tag (line 2) has no "# --" comment`},
		{"An empty mapping without a comment is refused rather than left out.",
			"podLabels: {}\n", `podLabels (line 1) has no "# --" comment`},
		{"Values that are not a mapping are refused.",
			"- a\n", "not a mapping"},
		{"A file without values is refused.",
			"", "no values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseValues([]byte(tc.values))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRender(t *testing.T) {
	rows := []value{{"a", "string", "`\"x|y\"`", "Named <fullname>-tls, or `<fullname>` in code; a|b; {{ not a template }}."}}
	for _, tc := range []struct {
		name, tmpl, want string
	}{
		{"The table goes where the template asks for it, after the generated header.",
			"# Chart\n\n{{ template \"chart.valuesTable\" . }}\n\nMore.\n",
			header + "# Chart\n\n| key | type | default | description |\n| --- | --- | --- | --- |\n" +
				"| `a` | string | `\"x\\|y\"` | Named &lt;fullname&gt;-tls, or `<fullname>` in code; a\\|b; {{ not a template }}. |\n\nMore.\n"},
		{"A template without the table is rendered as written.",
			"Text only.\n", header + "Text only.\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := render(tc.tmpl, rows)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}
