// Package metrics scores a predicted clustering against ground truth with
// the adjusted Rand index, homogeneity, completeness and singleton recall.
//
// A clustering is a map from item to label. Label names do not matter, only
// which items share one. Every function rejects inputs whose item sets
// differ, because a score over mismatched items is meaningless.
package metrics

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// ErrItemMismatch is returned (wrapped) when the predicted and the truth
// clusterings do not cover the same items.
var ErrItemMismatch = errors.New("metrics: predicted and truth item sets differ")

// Names of the four metrics, as used in expected-floor files.
const (
	NameARI             = "adjusted_rand_index"
	NameHomogeneity     = "homogeneity"
	NameCompleteness    = "completeness"
	NameSingletonRecall = "singleton_recall"
)

// Names returns the four metric names in report order.
func Names() []string {
	return []string{NameARI, NameHomogeneity, NameCompleteness, NameSingletonRecall}
}

// Scores holds the four metrics of one prediction.
type Scores struct {
	ARI             float64 `json:"adjusted_rand_index"`
	Homogeneity     float64 `json:"homogeneity"`
	Completeness    float64 `json:"completeness"`
	SingletonRecall float64 `json:"singleton_recall"`
}

// Get returns the metric called name and whether the name is known.
func (s Scores) Get(name string) (float64, bool) {
	switch name {
	case NameARI:
		return s.ARI, true
	case NameHomogeneity:
		return s.Homogeneity, true
	case NameCompleteness:
		return s.Completeness, true
	case NameSingletonRecall:
		return s.SingletonRecall, true
	}
	return 0, false
}

// Score computes all four metrics.
func Score(pred, truth map[string]string) (Scores, error) {
	t, err := newTable(pred, truth)
	if err != nil {
		return Scores{}, err
	}
	return Scores{
		ARI:             t.ari(),
		Homogeneity:     t.homogeneity(),
		Completeness:    t.completeness(),
		SingletonRecall: singletonRecall(pred, truth),
	}, nil
}

// ARI returns the adjusted Rand index of pred against truth. It is 1 for
// identical partitions, about 0 for independent ones and can be negative.
// Fewer than two items score 1.
func ARI(pred, truth map[string]string) (float64, error) {
	t, err := newTable(pred, truth)
	if err != nil {
		return 0, err
	}
	return t.ari(), nil
}

// Homogeneity returns 1 − H(T|P)/H(T): 1 when every predicted cluster holds
// items of one truth class only. An empty input or a single truth class
// scores 1.
func Homogeneity(pred, truth map[string]string) (float64, error) {
	t, err := newTable(pred, truth)
	if err != nil {
		return 0, err
	}
	return t.homogeneity(), nil
}

// Completeness returns 1 − H(P|T)/H(P): 1 when every truth class sits in one
// predicted cluster. An empty input or a single predicted cluster scores 1.
func Completeness(pred, truth map[string]string) (float64, error) {
	t, err := newTable(pred, truth)
	if err != nil {
		return 0, err
	}
	return t.completeness(), nil
}

// SingletonRecall returns the fraction of truth singletons (items whose
// truth label occurs once) that are also alone in the prediction. With no
// truth singletons it is 1.
func SingletonRecall(pred, truth map[string]string) (float64, error) {
	if err := sameItems(pred, truth); err != nil {
		return 0, err
	}
	return singletonRecall(pred, truth), nil
}

func singletonRecall(pred, truth map[string]string) float64 {
	truthSize := countLabels(truth)
	predSize := countLabels(pred)

	total, kept := 0, 0
	for item, label := range truth {
		if truthSize[label] != 1 {
			continue
		}
		total++
		if predSize[pred[item]] == 1 {
			kept++
		}
	}
	if total == 0 {
		return 1
	}
	return float64(kept) / float64(total)
}

func countLabels(m map[string]string) map[string]int {
	out := make(map[string]int, len(m))
	for _, l := range m {
		out[l]++
	}
	return out
}

func sameItems(pred, truth map[string]string) error {
	if len(pred) != len(truth) {
		return fmt.Errorf("%w: %d predicted, %d truth", ErrItemMismatch, len(pred), len(truth))
	}
	var missing []string
	for item := range truth {
		if _, ok := pred[item]; !ok {
			missing = append(missing, item)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("%w: %d truth items have no prediction, first %q", ErrItemMismatch, len(missing), missing[0])
	}
	return nil
}

// table is the contingency table of a prediction against the truth.
type table struct {
	n        float64
	cells    map[[2]string]float64
	predSum  map[string]float64
	truthSum map[string]float64
}

func newTable(pred, truth map[string]string) (*table, error) {
	if err := sameItems(pred, truth); err != nil {
		return nil, err
	}
	t := &table{
		n:        float64(len(truth)),
		cells:    map[[2]string]float64{},
		predSum:  map[string]float64{},
		truthSum: map[string]float64{},
	}
	for item, tl := range truth {
		pl := pred[item]
		t.cells[[2]string{pl, tl}]++
		t.predSum[pl]++
		t.truthSum[tl]++
	}
	return t, nil
}

func choose2(x float64) float64 { return x * (x - 1) / 2 }

func (t *table) ari() float64 {
	if t.n < 2 {
		return 1
	}
	var index, a, b float64
	for _, c := range t.cells {
		index += choose2(c)
	}
	for _, c := range t.predSum {
		a += choose2(c)
	}
	for _, c := range t.truthSum {
		b += choose2(c)
	}
	expected := a * b / choose2(t.n)
	maximum := (a + b) / 2
	if maximum == expected {
		// Both sides all singletons, or both sides one cluster.
		return 1
	}
	return (index - expected) / (maximum - expected)
}

// entropy returns H of the marginal sums, in nats.
func (t *table) entropy(sums map[string]float64) float64 {
	var h float64
	for _, c := range sums {
		p := c / t.n
		h -= p * math.Log(p)
	}
	return h
}

// conditional returns H(X|Y) where X is the truth side when truthGivenPred
// is true, and the predicted side otherwise.
func (t *table) conditional(truthGivenPred bool) float64 {
	var h float64
	for k, c := range t.cells {
		var given float64
		if truthGivenPred {
			given = t.predSum[k[0]]
		} else {
			given = t.truthSum[k[1]]
		}
		h -= c / t.n * math.Log(c/given)
	}
	return h
}

func (t *table) homogeneity() float64 {
	if t.n == 0 {
		return 1
	}
	ht := t.entropy(t.truthSum)
	if ht == 0 {
		return 1
	}
	return 1 - t.conditional(true)/ht
}

func (t *table) completeness() float64 {
	if t.n == 0 {
		return 1
	}
	hp := t.entropy(t.predSum)
	if hp == 0 {
		return 1
	}
	return 1 - t.conditional(false)/hp
}
