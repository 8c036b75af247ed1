package synth

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/decnet/decnet/internal/cluster/metrics"
)

// Floors maps a metric name (see metrics.Names) to the minimum score a
// clustering must reach on a scenario.
type Floors map[string]float64

// ExpectedPath returns the floors file that goes with a scenario file:
// the same path with ".yaml" replaced by ".expected.yaml".
func ExpectedPath(scenario string) string {
	ext := filepath.Ext(scenario)
	return strings.TrimSuffix(scenario, ext) + ".expected" + ext
}

// LoadFloors reads an expected-floors file: a mapping from metric name to
// {min: number}. min is the only supported key.
func LoadFloors(path string) (Floors, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load floors %s: %w", path, err)
	}
	return ParseFloors(data, path)
}

// ParseFloors validates an expected-floors document held in memory. name
// labels errors.
func ParseFloors(data []byte, name string) (Floors, error) {
	d := &decoder{doc: name}
	root, err := d.rootMapping(data)
	if err != nil {
		return nil, err
	}

	floors := Floors{}
	for _, key := range root.keys {
		if !slices.Contains(metrics.Names(), key) {
			return nil, d.fail(root.value[key], key, "unknown metric: use one of %s", strings.Join(metrics.Names(), ", "))
		}
		entry, err := d.mapping(root.value[key], key, "min")
		if err != nil {
			return nil, err
		}
		for _, k := range entry.keys {
			if k != "min" {
				return nil, d.fail(entry.value[k], join(key, k), "only the key 'min' is supported")
			}
		}
		if !entry.present("min") {
			return nil, d.fail(entry.node, key, "missing required key: min")
		}
		v, err := d.number(entry, "min", 0, -1, 1)
		if err != nil {
			return nil, err
		}
		floors[key] = v
	}
	return floors, nil
}

func (d *decoder) rootMapping(data []byte) (*fields, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, &ValidationError{Doc: d.doc, Msg: fmt.Sprintf("not valid YAML: %v", err)}
	}
	return d.mapping(resolve(&n), "", metrics.Names()...)
}

// Failure is one metric below its floor.
type Failure struct {
	Metric string  `json:"metric"`
	Got    float64 `json:"got"`
	Min    float64 `json:"min"`
}

func (f Failure) String() string {
	return fmt.Sprintf("%s=%.3f < min %.3f", f.Metric, f.Got, f.Min)
}

// Check returns every metric of s below its floor, in metrics.Names order.
func (f Floors) Check(s metrics.Scores) []Failure {
	var out []Failure
	for _, name := range metrics.Names() {
		floor, ok := f[name]
		if !ok {
			continue
		}
		got, _ := s.Get(name)
		if got < floor {
			out = append(out, Failure{Metric: name, Got: got, Min: floor})
		}
	}
	return out
}
