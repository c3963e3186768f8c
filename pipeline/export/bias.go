package export

import (
	"fmt"
	"math"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/student"
)

// ShiftOutputBias adds shifts to the bias of net's output layer, so that every logit of class k
// moves by its delta (eval.BiasShift), and returns the name of the parameter changed. The output
// layer is the spec's last one, which must be dense: a shift added before a later relu or
// pooling layer would not move the logits by the same amount.
func ShiftOutputBias(net *student.Net, shifts []eval.BiasShift) (string, error) {
	spec := net.Spec()
	last := len(spec.Layers) - 1
	for last >= 0 && spec.Layers[last].Type == "dropout" {
		last-- // the identity at inference
	}
	if last < 0 || spec.Layers[last].Type != "dense" {
		return "", fmt.Errorf("bias shift: the student's last layer is not dense (%s)", student.DescribeSpec(spec))
	}
	v, err := eval.ShiftVector(shifts, spec.Classes)
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("layers.%d.bias", last)
	params := net.ParamValues()
	bias, ok := params[name]
	if !ok || len(bias) != spec.Classes {
		return "", fmt.Errorf("bias shift: the student has no output bias %s of %d classes", name, spec.Classes)
	}
	for k, d := range v {
		b := bias[k] + float32(d)
		if math.IsInf(float64(b), 0) || math.IsNaN(float64(b)) {
			return "", fmt.Errorf("bias shift %d=%g: class %d's bias %g would become %g, out of float32's range", k, d, k, bias[k], b)
		}
		bias[k] = b
	}
	if err := net.LoadParams(params); err != nil {
		return "", fmt.Errorf("bias shift: %w", err)
	}
	return name, nil
}

// bakeBiasShifts adds opts.BiasShifts to net's output bias and records them in md; it returns
// the bias's name (empty without shifts).
func bakeBiasShifts(net *student.Net, opts Options, md map[string]string) (string, error) {
	if len(opts.BiasShifts) == 0 {
		return "", nil
	}
	name, err := ShiftOutputBias(net, opts.BiasShifts)
	if err != nil {
		return "", &OptionError{Scope: "export", Option: "BiasShifts", Err: fmt.Errorf("%s: %w", opts.Checkpoint, err)}
	}
	md[meta.BiasShift] = eval.FormatBiasShifts(opts.BiasShifts)
	return name, nil
}
