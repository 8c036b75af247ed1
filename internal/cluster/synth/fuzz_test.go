package synth

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that any document either parses into something Generate
// accepts or fails with a ValidationError, and never panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte(twoActors))
	f.Add([]byte(noiseCorpus))
	for _, name := range []string{"multi_operator.yaml", "stock_client.yaml", "slow_burn.yaml"} {
		data, err := os.ReadFile(filepath.Join(scenarioDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse error %v does not wrap ErrInvalid", err)
			}
			return
		}
		total := doc.Noise.ScannerCount
		for _, tool := range doc.Noise.StockTools {
			total += tool.Count
		}
		for _, c := range doc.Campaigns {
			for _, p := range c.Phases {
				total += p.Count
			}
		}
		if total > 5000 {
			return // valid but too large to generate on every fuzz input
		}
		if _, err := Generate(doc, 1); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Generate error %v does not wrap ErrInvalid", err)
		}
	})
}

// FuzzParseFloors checks that floors parsing never panics and only fails
// with a ValidationError.
func FuzzParseFloors(f *testing.F) {
	f.Add([]byte("adjusted_rand_index: {min: 1.0}\n"))
	f.Add([]byte("homogeneity: {min: 0.5, max: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := ParseFloors(data, "fuzz.yaml"); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("ParseFloors error %v does not wrap ErrInvalid", err)
		}
	})
}
