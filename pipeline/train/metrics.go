package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/distillgo/distill/internal/atomicfile"
)

// EpochMetrics is one epoch of training, one JSON line of a --metrics file. Eval fields are absent
// (nil) when training has no eval data; Agreement only with an eval set and an online teacher.
type EpochMetrics struct {
	Epoch        int      `json:"epoch"`                    // 1-based
	Loss         float64  `json:"loss"`                     // mean training loss per example
	SoftLoss     float64  `json:"soft_loss"`                // mean T^2*KL (or MSE) part, before alpha weighting
	HardLoss     float64  `json:"hard_loss"`                // mean cross-entropy part, before (1-alpha) weighting
	EvalLoss     *float64 `json:"eval_loss,omitempty"`      // mean NLL on the eval set
	EvalAccuracy *float64 `json:"eval_accuracy,omitempty"`  // top-1 accuracy on the eval set
	EvalErrors   *int     `json:"eval_errors,omitempty"`    // misclassified eval samples
	Agreement    *float64 `json:"eval_agreement,omitempty"` // student-teacher top-1 agreement on the eval set
	// TeacherAccuracy is the online teachers' top-1 accuracy on the epoch's training batches as
	// the student saw them, augmented (a mixed sample counts its larger part's label); absent
	// without labels or an online teacher.
	TeacherAccuracy *float64 `json:"teacher_accuracy,omitempty"`
	// HintLosses are the hints' weighted terms (Loss includes them), in --hint order; absent
	// without hints.
	HintLosses    []float64 `json:"hint_losses,omitempty"`
	SamplesPerSec float64   `json:"samples_per_sec"` // training samples per second, teacher included
	Seconds       float64   `json:"seconds"`         // wall time of the epoch
}

// ReadMetrics reads a JSON-lines metrics file written by training. Blank lines are skipped.
func ReadMetrics(r io.Reader) ([]EpochMetrics, error) {
	var out []EpochMetrics
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var m EpochMetrics
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// WriteMetricsFile writes records as JSON lines to path atomically (temp file, fsync, rename).
func WriteMetricsFile(path string, records []EpochMetrics) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range records {
		if err := enc.Encode(&records[i]); err != nil {
			return fmt.Errorf("write metrics %s: %w", path, err)
		}
	}
	if err := atomicfile.WriteFile(path, buf.Bytes()); err != nil {
		return fmt.Errorf("write metrics %s: %w", path, err)
	}
	return nil
}
