package student

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// FeatureLossFunc computes a loss on the output f of one layer for a batch of n samples (f is
// [n, out...], row-major), writes dL/df into df (zeroed before the call) and returns the loss.
type FeatureLossFunc func(f []float32, n int, df []float32) float32

// FeatureLoss is a loss on one layer's output, added to the logits' loss by TrainStepFeatures: a
// feature (hint) distillation term.
type FeatureLoss struct {
	// Layer is the layer's index in the spec (see FeatureLayer).
	Layer int
	Fn    FeatureLossFunc
}

// FeatureLayer returns the index and per-sample output shape of the layer the spec names name
// (its "name" field), for a FeatureLoss. A layer followed by a relu that it would apply itself
// (a dense, conv2d, batchnorm or add layer read only by a relu) gives its output before the relu:
// in a graph with a feature loss on it, that relu runs as a layer of its own (name the relu for
// the activated feature).
func (n *Net) FeatureLayer(name string) (int, []int, error) {
	var named []string
	for _, nd := range n.graph.Nodes {
		if nd.Layer.Name == "" {
			continue
		}
		if nd.Layer.Name != name {
			named = append(named, nd.Layer.Name)
			continue
		}
		return nd.Index, slices.Clone([]int(nd.Out)), nil
	}
	if len(named) == 0 {
		return 0, nil, fmt.Errorf("no layer named %q: the spec names none (give the layer a \"name\")", name)
	}
	return 0, nil, fmt.Errorf("no layer named %q: the spec names %s", name, strings.Join(named, ", "))
}

// TrainStepFeatures is TrainStep with feature losses: the loss minimised is the logits' loss plus
// every feature loss, each on its layer's output as computed in this step (dropout and batchnorm
// in training mode), and every Param.Grad is filled with the gradient of that sum. It returns
// the logits' loss and each feature loss. With no feature losses it is TrainStep.
func (n *Net) TrainStepFeatures(x []float32, batch int, rng *rand.Rand, loss LossFunc, feats []FeatureLoss) (float32, []float32, error) {
	if len(feats) == 0 {
		l, err := n.TrainStep(x, batch, rng, loss)
		return l, nil, err
	}
	layers := make([]int, len(feats))
	for i, f := range feats {
		if f.Fn == nil {
			return 0, nil, errors.New("train step: nil feature loss function")
		}
		if f.Layer < 0 || f.Layer >= len(n.graph.Nodes) {
			return 0, nil, fmt.Errorf("train step: layer %d cannot carry a feature loss", f.Layer)
		}
		layers[i] = f.Layer
	}
	gr, err := n.graphFor(x, batch, true, layers...)
	if err != nil {
		return 0, nil, fmt.Errorf("train step: %w", err)
	}
	for i, f := range feats {
		gr.feats[i].fn = f.Fn
	}
	defer func() {
		for _, op := range gr.feats {
			op.fn = nil
		}
	}()
	l, err := n.step(gr, x, rng, loss)
	if err != nil {
		return 0, nil, err
	}
	fl := make([]float32, len(gr.feats))
	for i, op := range gr.feats {
		fl[i] = op.loss
	}
	return l, fl, nil
}
