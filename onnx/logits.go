package onnx

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/option"
)

// This file holds the batched run of a Session: Logits and LogitsInputs, the conversion of
// probabilities to logits and the detection of the output kind.

// probSumTol is how far a row's sum may be from 1 (or its log-sum-exp from 0) for "auto" to take
// the row as probabilities (log-probabilities). float32 softmax sums are within ~1e-6 of 1 and
// float16 ones within ~1e-3, but a quantized softmax (8-bit outputs, steps of 1/255 rounded per
// class) sums to 1 only within ~1e-2; 2e-2 takes those in, while logits whose entries all lie in
// [0, 1] and sum to 1 that closely do not occur by chance.
const probSumTol = 2e-2

// nearSumTol is the band beyond probSumTol in which a row of entries in [0, 1] is neither: its sum
// is within nearSumTol of 1, so it may be probabilities of a coarser quantization or small
// logits, and "auto" refuses to guess.
const nearSumTol = 0.1

// minProb is the floor put under probabilities before taking logs, so that a probability of
// exactly 0 becomes a large negative (finite) logit: log(1e-30) ≈ -69.
const minProb = 1e-30

// Logits runs n preprocessed samples x (row-major, n × the per-sample input size) through the
// model in batches and returns their logits [n, Classes()]. Outputs of float16, bfloat16 and
// float64 are converted to float32 first, and a ZipMap's probabilities are put in the columns of
// their sorted class labels. Probabilities are returned as log(max(p, 1e-30)); log-probabilities
// and logits pass through. ctx is checked between batches.
//
// With output kind "auto" the first batch decides the kind, which then stays fixed (see
// detectKind); a first batch that fits no kind is an *option.Error for Output (Scope "onnx"). A
// model of probabilities that outputs some at or below the 1e-30 floor (exact zeros, as tree
// ensembles give) gets one warning per session with the fraction of such entries.
//
// Logits feeds a model with one float input (float32, float16 or float64). For any other model (several inputs, or one of
// another element type) it returns an *option.Error for Inputs (Scope "onnx") that lists the
// model's inputs, each of which must be fed by name through LogitsInputs.
func (s *Session) Logits(ctx context.Context, x []float32, n int) ([]float32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil, fmt.Errorf("model %s: %w", s.name, ErrClosed)
	}
	f, err := s.logitsFeed(x, n)
	if err != nil {
		return nil, err
	}
	defer func() { f.values[0] = nil }() // the session does not keep x
	return s.runAll(ctx, f, n, nil)
}

// LogitsInputs runs n samples given as the model's inputs through the model in batches and
// returns their logits [n, Classes()], reading and converting the output as Logits does (it
// implements model.MultiInput). Each of the model's inputs (Inputs) must be given exactly once,
// by name, with values of its element type: the slice types of model.Input, and for a float16
// or float64 input also a []float32 (rounded to the nearest float16, ties to even, or widened).
// An input's SampleShape must agree with the model's fixed per-sample axes, a dynamic axis taking
// the size given (nil: the model's shape, when it has no dynamic axis), and its values must hold
// n samples of that shape. The values are fed as they are, without preprocessing. For a model with
// one float32 input, LogitsInputs with that input returns exactly what Logits returns.
//
// A run feeds at most the session's rows per run (Options.Batch, or a fixed batch axis, padded
// with zeros); its tensors are kept for the next run of the same rows and per-sample shapes.
// An input not given, one given twice or a name the model does not have is an *option.Error for
// Inputs (Scope "onnx") that lists the model's inputs; other errors name the input.
func (s *Session) LogitsInputs(ctx context.Context, in []model.Input, n int) ([]float32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil, fmt.Errorf("model %s: %w", s.name, ErrClosed)
	}
	f, err := s.inputsFeed(in, n)
	if err != nil {
		return nil, err
	}
	return s.runAll(ctx, f, n, nil)
}

// runAll runs the n samples of f through the model in runs of s.rows samples and returns their
// logits, as Logits describes. With feats (one slice of n samples' values per feature) it also
// copies the features of each run into feats.
func (s *Session) runAll(ctx context.Context, f *feed, n int, feats [][]float32) ([]float32, error) {
	out := make([]float32, n*s.classes)
	for start := 0; start < n; start += s.rows {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("model %s: %w", s.name, err)
		}
		r := min(s.rows, n-start)
		b, err := s.tensors(r, f)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", s.name, err)
		}
		vals, views, err := b.values(f, start, r)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", s.name, err)
		}
		y, err := s.run(b, vals, r)
		destroyAll(views)
		if err == nil && feats != nil {
			err = s.copyFeatures(feats, b, start, r)
		}
		if err != nil {
			return nil, fmt.Errorf("model %s: run samples %d-%d on %s: %w", s.name, start, start+r, s.device, err)
		}
		if s.kind == OutputAuto {
			kind, err := detectKind(y, s.classes)
			if err != nil {
				return nil, &option.Error{Scope: "onnx", Option: "Output", Err: fmt.Errorf("model %s: output %q: %w", s.name, s.out.Name, err)}
			}
			s.kind = kind
			slog.Info("model output kind detected", "model", s.name, "output", s.out.Name, "kind", s.kind)
		}
		dst := out[start*s.classes:]
		if s.kind == OutputProbs {
			s.warnSaturated(y)
			for i, p := range y {
				dst[i] = float32(math.Log(math.Max(float64(p), minProb)))
			}
		} else {
			copy(dst, y)
		}
	}
	return out, nil
}

// run runs the inputs vals with b's output tensors and returns the scores of the first r rows as
// float32. They live in b's output tensor or s.buf, until the next run; the features stay in
// b.feats.
func (s *Session) run(b *batchTensors, vals []ort.Value, r int) ([]float32, error) {
	outs := append([]ort.Value{b.out}, b.feats...)
	if err := s.thread.do(func() error { return s.sess.Run(vals, outs) }); err != nil {
		return nil, err
	}
	if b.out == nil && outs[0] != nil {
		defer outs[0].Destroy() // allocated by onnxruntime; the scores are copied out first
	}
	return s.scores(outs[0], r)
}

// warnSaturated logs, the first time a batch of probabilities y holds entries at or below the
// log floor minProb, the fraction of such entries: their logit is the floor's, not the model's.
func (s *Session) warnSaturated(y []float32) {
	if s.saturated || len(y) == 0 {
		return
	}
	k := 0
	for _, p := range y {
		if float64(p) <= minProb {
			k++
		}
	}
	if k == 0 {
		return
	}
	s.saturated = true
	slog.Warn("model outputs saturated probabilities (0 or at most 1e-30, taken as log p = -69); high temperatures amplify noise in saturated probabilities",
		"model", s.name, "output", s.out.Name, "saturated_fraction", float64(k)/float64(len(y)), "saturated", k, "entries", len(y))
}

// rowKind is what one row of outputs looks like to detectKind.
type rowKind int

const (
	rowLogits    rowKind = iota // none of the others: some entry outside [0, 1], or a sum far from 1
	rowProbs                    // entries in [0, 1] summing to 1 within probSumTol
	rowNearProbs                // entries in [0, 1] summing to 1 within nearSumTol, not probSumTol
	rowLogProbs                 // entries <= 0 whose log-sum-exp is 0 within probSumTol
	numRowKinds
)

// classifyRow returns what row looks like and its sum. NaN entries make it logits.
func classifyRow(row []float32) (rowKind, float64) {
	in01, nonPos := true, true
	var sum, mx float64 = 0, math.Inf(-1)
	for _, v := range row {
		in01 = in01 && v >= 0 && v <= 1
		nonPos = nonPos && v <= 0
		sum += float64(v)
		mx = math.Max(mx, float64(v))
	}
	switch d := math.Abs(sum - 1); {
	case in01 && d <= probSumTol:
		return rowProbs, sum
	case in01 && d <= nearSumTol:
		return rowNearProbs, sum
	case nonPos:
		var se float64
		for _, v := range row {
			se += math.Exp(float64(v) - mx)
		}
		if math.Abs(mx+math.Log(se)) <= probSumTol {
			return rowLogProbs, sum
		}
	}
	return rowLogits, sum
}

// detectKind decides the output kind from a first batch of outputs y [rows, c]: "probs" when
// every row is probabilities (entries in [0, 1] summing to 1 within probSumTol), "logprobs" when
// every row is log-probabilities (entries <= 0, log-sum-exp 0 within probSumTol), "logits" when
// no row has all its entries in [0, 1] with a sum within nearSumTol of 1 (rows that look like
// log-probabilities among logits are logits by chance). Anything else (some rows probabilities
// and others not, or entries in [0, 1] whose sums are near 1 but not within probSumTol) is an
// error that says what was seen.
func detectKind(y []float32, c int) (string, error) {
	var count [numRowKinds]int
	var first [numRowKinds]int
	var sums [numRowKinds]float64
	rows := 0
	for r := 0; r+c <= len(y); r += c {
		k, sum := classifyRow(y[r : r+c])
		if count[k] == 0 {
			first[k], sums[k] = r/c, sum
		}
		count[k]++
		rows++
	}
	switch {
	case count[rowProbs] == rows:
		return OutputProbs, nil
	case count[rowLogProbs] == rows:
		return OutputLogProbs, nil
	case count[rowProbs] == 0 && count[rowNearProbs] == 0:
		return OutputLogits, nil
	}
	msg := fmt.Sprintf("cannot tell the output kind from the first batch of %d rows: %d look like probabilities (entries in [0, 1] summing to 1 within %g)",
		rows, count[rowProbs], probSumTol)
	if k := count[rowNearProbs]; k > 0 {
		msg += fmt.Sprintf(", %d have entries in [0, 1] summing to 1 only within %g (row %d sums to %.4g)", k, nearSumTol, first[rowNearProbs], sums[rowNearProbs])
	}
	if k := count[rowLogits] + count[rowLogProbs]; k > 0 {
		r := first[rowLogits]
		if count[rowLogits] == 0 || (count[rowLogProbs] > 0 && first[rowLogProbs] < r) {
			r = first[rowLogProbs]
		}
		msg += fmt.Sprintf(", %d do not (row %d: %s)", k, r, formatRow(y[r*c:(r+1)*c]))
	}
	return "", fmt.Errorf("%s; give the output kind (logits, probs or logprobs) explicitly", msg)
}

// formatRow writes row for an error, its first 8 entries when it is longer.
func formatRow(row []float32) string {
	if len(row) <= 8 {
		return fmt.Sprint(row)
	}
	return strings.TrimSuffix(fmt.Sprint(row[:8]), "]") + fmt.Sprintf(" ... (%d entries)]", len(row))
}
