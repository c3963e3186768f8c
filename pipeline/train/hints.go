package train

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/internal/nn"
	"github.com/distillgo/distill/student"
)

// HintOption is one feature-distillation term of an online run: the teacher's tensor Tensor (an
// output of a node of its graph, see `distill inspect --nodes`) against the output of the
// student's layer named Layer, compared by Loss (student.HintMSE, HintCosine or HintAT) and
// weighted by Weight in the total loss.
type HintOption struct {
	Tensor, Layer string
	Loss          string
	Weight        float64
}

// String writes h as --hint takes it.
func (h HintOption) String() string {
	return fmt.Sprintf("%s=%s:loss=%s:weight=%s", h.Tensor, h.Layer, h.Loss, strconv.FormatFloat(h.Weight, 'g', -1, 64))
}

// ParseHint reads a --hint value: "<teacher-tensor>=<student-layer>[:loss=mse|cosine|at][:weight=<w>]"
// (defaults: loss mse, weight 1). The tensor's name may hold ':' and '=' only before the last
// '=' that is followed by a layer name.
func ParseHint(s string) (HintOption, error) {
	h := HintOption{Loss: student.HintMSE, Weight: 1}
	parts := strings.Split(s, ":")
	// The options are the trailing key=value parts whose key is loss or weight.
	end := len(parts)
	for end > 1 {
		k, _, ok := strings.Cut(parts[end-1], "=")
		if !ok || (k != "loss" && k != "weight") {
			break
		}
		end--
	}
	head := strings.Join(parts[:end], ":")
	i := strings.LastIndexByte(head, '=')
	if i <= 0 || i == len(head)-1 {
		return h, fmt.Errorf("hint %q: want <teacher-tensor>=<student-layer>[:loss=mse|cosine|at][:weight=<w>]", s)
	}
	h.Tensor, h.Layer = head[:i], head[i+1:]
	seen := map[string]bool{}
	for _, opt := range parts[end:] {
		k, v, _ := strings.Cut(opt, "=")
		if seen[k] {
			return h, fmt.Errorf("hint %q: %s given twice", s, k)
		}
		seen[k] = true
		switch k {
		case "loss":
			if v != student.HintMSE && v != student.HintCosine && v != student.HintAT {
				return h, fmt.Errorf("hint %q: loss %q: want mse, cosine or at", s, v)
			}
			h.Loss = v
		case "weight":
			w, err := strconv.ParseFloat(v, 64)
			if err != nil || !(w > 0) || w > 1e6 {
				return h, fmt.Errorf("hint %q: weight %q: want a positive number", s, v)
			}
			h.Weight = w
		}
	}
	return h, nil
}

// errHintsNeedTeacher is the error of hints without one online teacher.
var errHintsNeedTeacher = errors.New("hints compare the student with an online teacher's inner tensors: give one --teacher (not soft targets, an ensemble or named teacher inputs)")

// HintTensors returns the teacher tensors the hints read, each once, in the order of their first
// hint: the model.Options Features the online teacher must be opened with.
func HintTensors(hints []HintOption) []string {
	var out []string
	for _, h := range hints {
		if !slices.Contains(out, h.Tensor) {
			out = append(out, h.Tensor)
		}
	}
	return out
}

// hintStrings writes the hints as --hint takes them, for the provenance.
func hintStrings(hints []HintOption) []string {
	var out []string
	for _, h := range hints {
		out = append(out, h.String())
	}
	return out
}

// trainHint is one hint of a run: its student layer, the teacher feature it reads (an index into
// HintTensors) and its loss with the projection.
type trainHint struct {
	opt     HintOption
	layer   int
	feature int
	h       *student.Hint
}

// setupHints resolves the hints against the student's network and the online teacher's features,
// and makes their projections (from the checkpoint's auxiliary tensors when resuming, aux nil
// otherwise). It runs once the network exists.
func (t *trainer) setupHints(aux []*student.Param) error {
	o := &t.opts
	if len(o.Hints) == 0 {
		return nil
	}
	if len(t.teachers) != 1 || t.teacherInputs != nil {
		return &OptionError{Scope: "train", Option: "Hints", Err: errHintsNeedTeacher}
	}
	fm, ok := t.teachers[0].m.(model.FeatureModel)
	if !ok {
		return &OptionError{Scope: "train", Option: "Hints", Err: fmt.Errorf("teacher %s was not opened with the tensors the hints read (%s)", t.teachers[0].path, strings.Join(HintTensors(o.Hints), ", "))}
	}
	tensors, shapes := HintTensors(o.Hints), fm.FeatureShapes()
	if len(shapes) != len(tensors) {
		return fmt.Errorf("train: teacher %s gives %d features for the %d tensors the hints read", t.teachers[0].path, len(shapes), len(tensors))
	}
	t.featSize = make([]int, len(shapes))
	for i, s := range shapes {
		t.featSize[i] = nn.Shape(s).Size()
	}
	byName := map[string]*student.Param{}
	for _, a := range aux {
		byName[a.Name] = a
	}
	for i, ho := range o.Hints {
		layer, shape, err := t.net.FeatureLayer(ho.Layer)
		if err != nil {
			return &OptionError{Scope: "train", Option: "Hints", Err: fmt.Errorf("hint %s: student spec %s: %w", ho, o.Spec, err)}
		}
		f := slices.Index(tensors, ho.Tensor)
		h, err := student.NewHint(fmt.Sprintf("%shints.%d", student.AuxPrefix, i), ho.Loss, ho.Weight, shape, shapes[f], o.Seed+uint64(i))
		if err != nil {
			return &OptionError{Scope: "train", Option: "Hints", Err: fmt.Errorf("hint %s (student layer %s, teacher tensor %s): %w", ho, ho.Layer, ho.Tensor, err)}
		}
		if aux != nil {
			for _, p := range h.Params() {
				a, ok := byName[p.Name]
				if !ok || !slices.Equal(a.Shape, p.Shape) {
					return fmt.Errorf("train: resume %s: no projection %s %v for hint %s in the checkpoint", o.Checkpoint, p.Name, p.Shape, ho)
				}
				copy(p.Value, a.Value)
			}
		}
		t.hints = append(t.hints, trainHint{opt: ho, layer: layer, feature: f, h: h})
	}
	return nil
}

// trainParams returns what the optimiser updates: the network's parameters, then the hints'
// projections.
func (t *trainer) trainParams() []*student.Param {
	if len(t.hints) == 0 {
		return t.net.Params()
	}
	if t.params == nil { // once: the list does not change during a run
		t.params = append(slices.Clone(t.net.Params()), t.auxParams()...)
	}
	return t.params
}

// auxParams returns the hints' projections, which the checkpoint saves beside the network.
func (t *trainer) auxParams() []*student.Param {
	var ps []*student.Param
	for _, h := range t.hints {
		ps = append(ps, h.h.Params()...)
	}
	return ps
}

// featureLosses returns the hints' losses for batch b, reading its teacher features.
func (t *trainer) featureLosses(b *batch) []student.FeatureLoss {
	out := make([]student.FeatureLoss, len(t.hints))
	for i, h := range t.hints {
		out[i] = student.FeatureLoss{Layer: h.layer, Fn: h.h.Func(b.feats[h.feature][:b.n*t.featSize[h.feature]])}
	}
	return out
}
