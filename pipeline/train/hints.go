package train

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

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
