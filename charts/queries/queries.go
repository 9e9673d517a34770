// Package queries finds the PromQL in the chart's rendered dashboard and
// alert rules, and the metrics each query reads, so tests can hold them
// against what flinkgate exports.
package queries

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// Query is one PromQL expression and where it is.
type Query struct {
	Where string
	Expr  string
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// FromManifest returns the queries of every PrometheusRule and every
// ConfigMap holding a Grafana dashboard (a data key ending in .json) in a
// rendered manifest, in order.
func FromManifest(manifest string) ([]Query, error) {
	var out []Query
	for _, doc := range docSeparator.Split(manifest, -1) {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Data map[string]string `json:"data"`
			Spec struct {
				Groups []struct {
					Name  string `json:"name"`
					Rules []struct {
						Alert  string `json:"alert"`
						Record string `json:"record"`
						Expr   string `json:"expr"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, fmt.Errorf("decode rendered document: %w", err)
		}
		switch obj.Kind {
		case "PrometheusRule":
			for _, g := range obj.Spec.Groups {
				for _, r := range g.Rules {
					out = append(out, Query{Where: fmt.Sprintf("PrometheusRule %s, group %s, rule %s%s", obj.Metadata.Name, g.Name, r.Alert, r.Record), Expr: r.Expr})
				}
			}
		case "ConfigMap":
			keys := make([]string, 0, len(obj.Data))
			for k := range obj.Data {
				if strings.HasSuffix(k, ".json") {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				qs, err := fromDashboard(obj.Data[k])
				if err != nil {
					return nil, fmt.Errorf("dashboard %s in ConfigMap %s: %w", k, obj.Metadata.Name, err)
				}
				for _, q := range qs {
					q.Where = fmt.Sprintf("ConfigMap %s, %s, %s", obj.Metadata.Name, k, q.Where)
					out = append(out, q)
				}
			}
		}
	}
	return out, nil
}

type panel struct {
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

// labelValues is Grafana's variable query function, not PromQL.
var labelValues = regexp.MustCompile(`^\s*label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

func fromDashboard(text string) ([]Query, error) {
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal([]byte(text), &d); err != nil {
		return nil, fmt.Errorf("decode dashboard json: %w", err)
	}
	var out []Query
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				out = append(out, Query{Where: fmt.Sprintf("panel %q, query %s", p.Title, t.RefID), Expr: t.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		var s string
		if err := json.Unmarshal(v.Query, &s); err != nil {
			if err := json.Unmarshal(v.Query, &q); err != nil {
				return nil, fmt.Errorf("variable %s: query is neither a string nor an object", v.Name)
			}
			s = q.Query
		}
		if m := labelValues.FindStringSubmatch(s); m != nil {
			s = m[1]
		}
		out = append(out, Query{Where: "variable " + v.Name, Expr: s})
	}
	return out, nil
}

// grafanaVariables are the interval variables Grafana fills in before a
// query reaches Prometheus.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "${__rate_interval}", "5m",
	"$__interval", "1m", "${__interval}", "1m", "$__range", "1h", "${__range}", "1h")

// Metrics parses expr with the Prometheus PromQL parser and returns the
// metric names it selects, sorted and without repeats.
func Metrics(expr string) ([]string, error) {
	e, err := parser.ParseExpr(grafanaVariables.Replace(expr))
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", expr, err)
	}
	seen := map[string]bool{}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name != "" {
			seen[name] = true
		}
		return nil
	})
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}
