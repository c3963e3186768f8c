package nn

import (
	"fmt"
	"slices"
	"strings"
)

// Describe renders a spec in one line for messages, e.g.
// "mnist-student (input [784]: dense 800, relu, dense 800, relu, dense 10)"; a layer that does
// not read the one before it shows its inputs ("add(b1, b2)").
func Describe(s *Spec) string {
	if s == nil {
		return "no spec"
	}
	var b strings.Builder
	if s.Name != "" {
		b.WriteString(s.Name + " ")
	}
	fmt.Fprintf(&b, "(input %v:", s.Input)
	for i, l := range s.Layers {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(" ")
		if l.Name != "" {
			b.WriteString(l.Name + "=")
		}
		b.WriteString(l.Type)
		if len(l.Inputs) > 0 {
			fmt.Fprintf(&b, "(%s)", strings.Join(l.Inputs, ", "))
		}
		switch l.Type {
		case "dense":
			fmt.Fprintf(&b, " %d", l.Units)
			if !l.hasBias() {
				b.WriteString(" no bias")
			}
		case "dropout":
			fmt.Fprintf(&b, " %g", l.P)
		case "conv2d":
			fmt.Fprintf(&b, " %d filters %dx%d/%d pad %s", l.Filters, l.Kernel, l.Kernel, l.stride(1), l.Pad)
			if l.groups() > 1 {
				fmt.Fprintf(&b, " groups %d", l.groups())
			}
			if !l.hasBias() {
				b.WriteString(" no bias")
			}
		case "maxpool", "avgpool":
			fmt.Fprintf(&b, " %dx%d/%d", l.Kernel, l.Kernel, l.stride(l.Kernel))
			if l.Pad != 0 {
				fmt.Fprintf(&b, " pad %s", l.Pad)
			}
		case "leakyrelu":
			fmt.Fprintf(&b, " %g", l.slope())
		}
	}
	b.WriteByte(')')
	return b.String()
}

// SameArchitecture reports whether a and b describe the same network: equal input shape and
// classes, and layer by layer the same operator reading the same layers with the same fields once
// their defaults are filled in (an unset stride and its default, "same" and the pad it stands for).
// Names of the spec and of layers are not compared; specs that do not validate are never the same.
func SameArchitecture(a, b *Spec) bool {
	if a == nil || b == nil {
		return a == b
	}
	if !slices.Equal(a.Input, b.Input) || a.Classes != b.Classes || len(a.Layers) != len(b.Layers) {
		return false
	}
	ga, err := a.Graph()
	if err != nil {
		return false
	}
	gb, err := b.Graph()
	if err != nil {
		return false
	}
	for i, x := range ga.Nodes {
		y := gb.Nodes[i]
		if !slices.Equal(x.Inputs, y.Inputs) || x.Layer.normalized() != y.Layer.normalized() {
			return false
		}
	}
	return true
}

// layerFields are a layer's fields with their defaults filled in, comparable with ==.
type layerFields struct {
	typ                                 string
	units, filters, kernel, stride, pad int
	groups                              int
	bias                                bool
	p, momentum, eps, slope             float64
}

// normalized returns l's fields with defaults filled in (names and inputs left out).
func (l *Layer) normalized() layerFields {
	f := layerFields{typ: l.Type, units: l.Units, filters: l.Filters, kernel: l.Kernel, p: l.P}
	switch l.Type {
	case "maxpool", "avgpool":
		f.stride = l.stride(l.Kernel)
	default:
		f.stride = l.stride(1)
	}
	f.bias = l.hasBias()
	f.pad, f.groups, f.momentum, f.eps, f.slope = l.pad(), l.groups(), l.momentum(), l.eps(), l.slope()
	return f
}

// momentum, eps and slope return the layer's field or its default.
// hasBias reports whether a dense or conv2d layer has a bias (the default).
func (l *Layer) hasBias() bool { return l.Bias == nil || *l.Bias }

func (l *Layer) momentum() float64 { return orDefault(l.Momentum, 0.1) }
func (l *Layer) eps() float64      { return orDefault(l.Eps, 1e-5) }
func (l *Layer) slope() float64    { return orDefault(l.Slope, 0.01) }

func orDefault(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}
