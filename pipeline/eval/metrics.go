package eval

import (
	"errors"
	"fmt"
	"math"
)

// ECEBins is the number of equal-width confidence bins used for the expected calibration error.
// 15 is the usual choice since Guo et al. 2017 ("On Calibration of Modern Neural Networks").
const ECEBins = 15

// Classification holds the metrics of a classifier's logits against true labels.
type Classification struct {
	N         int     `json:"n"`         // number of samples
	Classes   int     `json:"classes"`   // number of classes
	Correct   int     `json:"correct"`   // samples whose arg-max logit is the label
	Errors    int     `json:"errors"`    // N - Correct
	Accuracy  float64 `json:"accuracy"`  // Correct / N
	MeanNLL   float64 `json:"mean_nll"`  // mean of -log softmax(z)[label], natural log
	ECE       float64 `json:"ece"`       // expected calibration error over ECEBins confidence bins
	Confusion [][]int `json:"confusion"` // Confusion[t][p] counts samples of true class t predicted as p
	// PerClass holds each class's samples, errors and accuracy (class k at index k).
	PerClass []ClassErrors `json:"per_class"`
}

// ClassErrors are the figures of one class: its samples (true label k), how many of them were
// misclassified, and the fraction right (0 for a class with no samples).
type ClassErrors struct {
	Class    int     `json:"class"`
	N        int     `json:"n"`
	Errors   int     `json:"errors"`
	Accuracy float64 `json:"accuracy"`
}

// perClass derives each class's figures from the confusion matrix.
func perClass(confusion [][]int) []ClassErrors {
	out := make([]ClassErrors, len(confusion))
	for k, row := range confusion {
		n := 0
		for _, v := range row {
			n += v
		}
		out[k] = ClassErrors{Class: k, N: n, Errors: n - row[k]}
		if n > 0 {
			out[k].Accuracy = float64(row[k]) / float64(n)
		}
	}
	return out
}

// Argmax returns the index of the largest value in row; the first one on ties. NaN is never the
// largest unless every value is NaN (then 0).
func Argmax(row []float32) int {
	best := 0
	for j := 1; j < len(row); j++ {
		if row[j] > row[best] || (row[best] != row[best] && row[j] == row[j]) {
			best = j
		}
	}
	return best
}

// AddSoftmax adds softmax(row) to dst, computed stably in float64.
func AddSoftmax(dst []float64, row []float32) {
	m, sum := softmaxParts(row)
	for j, v := range row {
		dst[j] += math.Exp(float64(v)-m) / sum
	}
}

// logSoftmaxAt returns log softmax(row)[k] in float64, computed stably with log-sum-exp.
func logSoftmaxAt(row []float32, k int) float64 {
	m, s := softmaxParts(row)
	return float64(row[k]) - m - math.Log(s)
}

// softmaxParts returns m = max(row) and s = Σ_j exp(row[j] - m) in float64, from which
// softmax(row)[j] = exp(row[j] - m)/s and its log are computed without overflow.
func softmaxParts(row []float32) (m, s float64) {
	m = math.Inf(-1)
	for _, v := range row {
		m = math.Max(m, float64(v))
	}
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return m, s
}

// Classify computes accuracy, error count, mean negative log-likelihood, expected calibration error
// and the confusion matrix of logits [n, c] (row-major) against labels. Labels outside [0, c) and
// non-finite logits are errors naming the sample.
func Classify(logits []float32, n, c int, labels []int32) (*Classification, error) {
	if n <= 0 {
		return nil, errors.New("classify: no samples")
	}
	if c <= 0 || len(logits) != n*c {
		return nil, fmt.Errorf("classify: %d logits for %d samples of %d classes", len(logits), n, c)
	}
	if len(labels) != n {
		return nil, fmt.Errorf("classify: %d labels for %d samples", len(labels), n)
	}
	m := &Classification{N: n, Classes: c, Confusion: make([][]int, c)}
	for i := range m.Confusion {
		m.Confusion[i] = make([]int, c)
	}
	var binCount [ECEBins]int
	var binConf, binCorrect [ECEBins]float64
	var nll float64
	for i := range n {
		row := logits[i*c : (i+1)*c]
		for j, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("classify: sample %d: logit %d is %v", i, j, v)
			}
		}
		y := int(labels[i])
		if y < 0 || y >= c {
			return nil, fmt.Errorf("classify: sample %d: label %d outside [0, %d)", i, y, c)
		}
		p := Argmax(row)
		m.Confusion[y][p]++
		ok := 0.0
		if p == y {
			m.Correct++
			ok = 1
		}
		nll -= logSoftmaxAt(row, y)
		conf := math.Exp(logSoftmaxAt(row, p))
		b := eceBin(conf)
		binCount[b]++
		binConf[b] += conf
		binCorrect[b] += ok
	}
	m.Errors = n - m.Correct
	m.PerClass = perClass(m.Confusion)
	m.Accuracy = float64(m.Correct) / float64(n)
	m.MeanNLL = nll / float64(n)
	for b := range ECEBins {
		if binCount[b] > 0 {
			m.ECE += math.Abs(binCorrect[b]-binConf[b]) / float64(n)
		}
	}
	return m, nil
}

// eceBin maps a confidence in [0, 1] to its bin: bin b holds (b/ECEBins, (b+1)/ECEBins], and bin 0
// also holds 0.
func eceBin(conf float64) int {
	b := int(math.Ceil(conf*ECEBins)) - 1
	return max(0, min(ECEBins-1, b))
}

// Agreement returns the fraction of the n samples on which two sets of logits [n, c] have the same
// arg-max (top-1 agreement, e.g. between student and teacher).
func Agreement(a, b []float32, n, c int) (float64, error) {
	if n <= 0 || c <= 0 || len(a) != n*c || len(b) != n*c {
		return 0, fmt.Errorf("agreement: %d and %d logits for %d samples of %d classes", len(a), len(b), n, c)
	}
	same := 0
	for i := range n {
		if Argmax(a[i*c:(i+1)*c]) == Argmax(b[i*c:(i+1)*c]) {
			same++
		}
	}
	return float64(same) / float64(n), nil
}
