package onnx

import (
	"context"
	"fmt"
	"log/slog"
	"math"

	ort "github.com/yalue/onnxruntime_go"
)

// This file holds the batched run of a Session: its reusable tensors, the conversion of
// probabilities to logits and the detection of the output kind.

// probSumTol is how far a row's sum may be from 1 (or its log-sum-exp from 0) for "auto" to take
// the row as probabilities (log-probabilities): float32 softmax sums are within ~1e-6 of 1, so
// 1e-3 leaves room for fp16 teachers while no plausible logit vector lands there by chance.
const probSumTol = 1e-3

// minProb is the floor put under probabilities before taking logs, so that a probability of
// exactly 0 becomes a large negative (finite) logit: log(1e-30) ≈ -69.
const minProb = 1e-30

// batchTensors are the input and output tensors for runs of a given number of rows.
type batchTensors struct {
	rows int
	in   *ort.Tensor[float32]
	out  *ort.Tensor[float32]
}

func (b *batchTensors) destroy() {
	if b == nil {
		return
	}
	b.in.Destroy()
	b.out.Destroy()
}

// Logits runs n preprocessed samples x (row-major, n × the per-sample input size) through the
// model in batches and returns their logits [n, Classes()]. Probabilities are returned as
// log(max(p, 1e-30)); log-probabilities and logits pass through. ctx is checked between batches.
func (s *Session) Logits(ctx context.Context, x []float32, n int) ([]float32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil, fmt.Errorf("teacher %s: %w", s.path, ErrClosed)
	}
	if n < 0 || len(x) != n*s.sampleSize {
		return nil, fmt.Errorf("teacher %s: got %d values for %d samples, but the model's input %q %v takes %v = %d values per sample",
			s.path, len(x), n, s.info.Inputs[0].Name, s.inShape, s.sample, s.sampleSize)
	}
	out := make([]float32, n*s.classes)
	for start := 0; start < n; start += s.rows {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("teacher %s: %w", s.path, err)
		}
		r := min(s.rows, n-start)
		b, err := s.tensors(r)
		if err != nil {
			return nil, fmt.Errorf("teacher %s: %w", s.path, err)
		}
		in := b.in.GetData()
		m := copy(in, x[start*s.sampleSize:(start+r)*s.sampleSize])
		clear(in[m:]) // a fixed-size batch is padded with zeros
		if err := s.sess.Run([]ort.Value{b.in}, []ort.Value{b.out}); err != nil {
			return nil, fmt.Errorf("teacher %s: run samples %d-%d on %s: %w", s.path, start, start+r, s.device, err)
		}
		y := b.out.GetData()[:r*s.classes]
		if s.kind == OutputAuto {
			s.kind = detectKind(y, s.classes)
			slog.Info("teacher output kind detected", "model", s.path, "kind", s.kind)
		}
		dst := out[start*s.classes:]
		if s.kind == OutputProbs {
			for i, p := range y {
				dst[i] = float32(math.Log(math.Max(float64(p), minProb)))
			}
		} else {
			copy(dst, y)
		}
	}
	return out, nil
}

// tensors returns tensors for a run of r rows: the full-batch pair (allocated once) or, for the
// last partial batch of a dynamic-batch model, a tail pair kept until a different size is needed.
func (s *Session) tensors(r int) (*batchTensors, error) {
	if s.fixed > 0 || r == s.rows {
		if s.full == nil {
			b, err := s.newTensors(s.rows)
			if err != nil {
				return nil, err
			}
			s.full = b
		}
		return s.full, nil
	}
	if s.tail == nil || s.tail.rows != r {
		s.tail.destroy()
		s.tail = nil
		b, err := s.newTensors(r)
		if err != nil {
			return nil, err
		}
		s.tail = b
	}
	return s.tail, nil
}

func (s *Session) newTensors(rows int) (*batchTensors, error) {
	in, err := ort.NewEmptyTensor[float32](append(ort.Shape{int64(rows)}, s.sample...))
	if err != nil {
		return nil, fmt.Errorf("allocate input tensor for %d samples: %w", rows, err)
	}
	out, err := ort.NewEmptyTensor[float32](ort.Shape{int64(rows), int64(s.classes)})
	if err != nil {
		in.Destroy()
		return nil, fmt.Errorf("allocate output tensor for %d samples: %w", rows, err)
	}
	return &batchTensors{rows: rows, in: in, out: out}, nil
}

// detectKind classifies a batch of outputs y [rows, c]: "probs" if every row is non-negative and
// sums to 1, "logprobs" if every row is non-positive with log-sum-exp 0, else "logits"
// (both within probSumTol).
func detectKind(y []float32, c int) string {
	probs, logprobs := true, true
	for r := 0; r+c <= len(y); r += c {
		row := y[r : r+c]
		var sum, mx float64 = 0, math.Inf(-1)
		for _, v := range row {
			if !(v >= 0) {
				probs = false
			}
			if !(v <= 0) {
				logprobs = false
			}
			sum += float64(v)
			mx = math.Max(mx, float64(v))
		}
		if math.Abs(sum-1) > probSumTol {
			probs = false
		}
		if logprobs {
			var se float64
			for _, v := range row {
				se += math.Exp(float64(v) - mx)
			}
			if math.Abs(mx+math.Log(se)) > probSumTol {
				logprobs = false
			}
		}
		if !probs && !logprobs {
			return OutputLogits
		}
	}
	switch {
	case probs:
		return OutputProbs
	case logprobs:
		return OutputLogProbs
	}
	return OutputLogits
}
