package metrics

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func labels(pairs ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return m
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestScoreCases(t *testing.T) {
	tests := []struct {
		name  string
		pred  map[string]string
		truth map[string]string
		want  Scores
	}{
		{
			name:  "empty",
			pred:  map[string]string{},
			truth: map[string]string{},
			want:  Scores{1, 1, 1, 1},
		},
		{
			name:  "isomorphic labels",
			pred:  labels("a", "x", "b", "x", "c", "y", "d", "y"),
			truth: labels("a", "1", "b", "1", "c", "2", "d", "2"),
			want:  Scores{1, 1, 1, 1},
		},
		{
			name:  "both all singletons",
			pred:  labels("a", "1", "b", "2", "c", "3"),
			truth: labels("a", "x", "b", "y", "c", "z"),
			want:  Scores{1, 1, 1, 1},
		},
		{
			name:  "both one cluster",
			pred:  labels("a", "1", "b", "1", "c", "1"),
			truth: labels("a", "x", "b", "x", "c", "x"),
			want:  Scores{1, 1, 1, 1},
		},
		{
			name:  "truth singletons predicted one cluster",
			pred:  labels("a", "1", "b", "1", "c", "1"),
			truth: labels("a", "x", "b", "y", "c", "z"),
			want:  Scores{0, 0, 1, 0},
		},
		{
			name:  "truth one class predicted singletons",
			pred:  labels("a", "1", "b", "2", "c", "3"),
			truth: labels("a", "x", "b", "x", "c", "x"),
			want:  Scores{0, 1, 0, 1},
		},
		{
			name:  "single item",
			pred:  labels("a", "1"),
			truth: labels("a", "x"),
			want:  Scores{1, 1, 1, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Score(tt.pred, tt.truth)
			if err != nil {
				t.Fatalf("Score: %v", err)
			}
			for _, name := range Names() {
				g, _ := got.Get(name)
				w, _ := tt.want.Get(name)
				if !near(g, w) {
					t.Errorf("%s = %.6f, want %.6f", name, g, w)
				}
			}
		})
	}
}

func TestFalseMergeDropsHomogeneity(t *testing.T) {
	truth := labels("a", "A", "b", "A", "c", "B", "d", "B")
	pred := labels("a", "1", "b", "1", "c", "1", "d", "1")
	s, err := Score(pred, truth)
	if err != nil {
		t.Fatal(err)
	}
	if !near(s.Homogeneity, 0) {
		t.Errorf("homogeneity = %f, want 0", s.Homogeneity)
	}
	if !near(s.Completeness, 1) {
		t.Errorf("completeness = %f, want 1", s.Completeness)
	}
}

func TestFalseSplitDropsCompleteness(t *testing.T) {
	truth := labels("a", "A", "b", "A", "c", "A", "d", "A")
	pred := labels("a", "1", "b", "2", "c", "3", "d", "4")
	s, err := Score(pred, truth)
	if err != nil {
		t.Fatal(err)
	}
	if !near(s.Completeness, 0) {
		t.Errorf("completeness = %f, want 0", s.Completeness)
	}
	if !near(s.Homogeneity, 1) {
		t.Errorf("homogeneity = %f, want 1", s.Homogeneity)
	}
}

func TestSingletonRecallNoiseAbsorption(t *testing.T) {
	truth := labels("c1", "C", "c2", "C", "wolf1", "W1", "wolf2", "W2")
	absorbed := labels("c1", "k", "c2", "k", "wolf1", "k", "wolf2", "k")
	kept := labels("c1", "k", "c2", "k", "wolf1", "w1", "wolf2", "w2")
	tests := []struct {
		name string
		pred map[string]string
		want float64
	}{
		{"absorbed", absorbed, 0},
		{"kept", kept, 1},
	}
	for _, tt := range tests {
		got, err := SingletonRecall(tt.pred, truth)
		if err != nil {
			t.Fatal(err)
		}
		if !near(got, tt.want) {
			t.Errorf("%s: singleton recall = %f, want %f", tt.name, got, tt.want)
		}
	}
}

func TestMismatchedItemSets(t *testing.T) {
	pred := labels("a", "1", "b", "1")
	truth := labels("a", "x", "c", "x")
	funcs := map[string]func(p, t map[string]string) (float64, error){
		"ARI":             ARI,
		"Homogeneity":     Homogeneity,
		"Completeness":    Completeness,
		"SingletonRecall": SingletonRecall,
	}
	for name, f := range funcs {
		if _, err := f(pred, truth); !errors.Is(err, ErrItemMismatch) {
			t.Errorf("%s error = %v, want ErrItemMismatch", name, err)
		}
	}
	if _, err := ARI(labels("a", "1"), labels("a", "1", "b", "2")); !errors.Is(err, ErrItemMismatch) {
		t.Errorf("ARI with different sizes: error = %v, want ErrItemMismatch", err)
	}
}

func TestRandomLabelsLowARI(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	pred, truth := map[string]string{}, map[string]string{}
	for i := range 20 {
		item := fmt.Sprintf("i%02d", i)
		truth[item] = fmt.Sprintf("t%d", i%4)
		pred[item] = fmt.Sprintf("p%d", rng.IntN(4))
	}
	got, err := ARI(pred, truth)
	if err != nil {
		t.Fatal(err)
	}
	if got >= 0.3 {
		t.Errorf("ARI of random labels = %f, want < 0.3", got)
	}
}

func TestARIKnownValue(t *testing.T) {
	// Contingency [[2,1],[0,2]]: index 2, a = 3+1, b = 1+3, C(5,2) = 10,
	// expected 1.6, max 4, ARI = 0.4/2.4.
	truth := labels("a", "A", "b", "A", "c", "A", "d", "B", "e", "B")
	pred := labels("a", "1", "b", "1", "c", "2", "d", "2", "e", "2")
	got, err := ARI(pred, truth)
	if err != nil {
		t.Fatal(err)
	}
	if want := 0.4 / 2.4; !near(got, want) {
		t.Errorf("ARI = %f, want %f", got, want)
	}
}
