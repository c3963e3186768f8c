package purego_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/x448/float16"
	"google.golang.org/protobuf/encoding/protowire"
)

// This file writes test models as distill's exporter (package onnx, Encode) does, with protowire:
// a test binary of this package cannot link package onnx, whose ONNX types register the same
// protobuf names as onnx-go's (see doc.go). The layout follows onnx/export.go: opset 13, IR 7,
// input [N, shape...] with dim_param "N", Gemm with W [in, out] and transB 0, Conv and MaxPool
// with kernel_shape, pads and strides, Flatten axis 1, float16 weights widened by Cast nodes,
// metadata in sorted order with the checksum entry first.

// layer is one layer of a test model, as onnx.Layer.
type layer struct {
	op      string
	w, b    []float32
	wshape  []int
	k, s, p int // kernel, stride (0: 1 for Conv, k for MaxPool), pad
}

// netSpec is a test model, as onnx.ExportGraph.
type netSpec struct {
	inShape  []int
	classes  int
	layers   []layer
	fp16     bool
	meta     [][2]string // in order
	checksum bool
}

func tag(b []byte, num protowire.Number, typ protowire.Type) []byte {
	return protowire.AppendTag(b, num, typ)
}

func bytesField(b []byte, num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(tag(b, num, protowire.BytesType), v)
}

func varintField(b []byte, num protowire.Number, v int64) []byte {
	return protowire.AppendVarint(tag(b, num, protowire.VarintType), uint64(v))
}

// ValueInfo encodes a float32 ValueInfoProto [N, dims...].
func ValueInfo(name string, dims []int) []byte {
	var shape []byte
	shape = bytesField(shape, 1, bytesField(nil, 2, []byte("N")))
	for _, d := range dims {
		shape = bytesField(shape, 1, varintField(nil, 1, int64(d)))
	}
	tensorType := bytesField(varintField(nil, 1, 1), 2, shape)
	return bytesField(bytesField(nil, 1, []byte(name)), 2, bytesField(nil, 1, tensorType))
}

func intsAttr(name string, v ...int64) []byte {
	b := bytesField(nil, 1, []byte(name))
	var packed []byte
	for _, x := range v {
		packed = protowire.AppendVarint(packed, uint64(x))
	}
	return varintField(bytesField(b, 8, packed), 20, 7) // type INTS
}

func intAttr(name string, v int64) []byte {
	return varintField(varintField(bytesField(nil, 1, []byte(name)), 3, v), 20, 2) // type INT
}

func node(name, op string, in []string, out string, attrs ...[]byte) []byte {
	var b []byte
	for _, s := range in {
		b = bytesField(b, 1, []byte(s))
	}
	b = bytesField(b, 2, []byte(out))
	b = bytesField(b, 3, []byte(name))
	b = bytesField(b, 4, []byte(op))
	for _, a := range attrs {
		b = bytesField(b, 5, a)
	}
	return b
}

// initializer encodes data as a TensorProto with raw_data, float16 when fp16.
func initializer(name string, data []float32, dims []int, fp16 bool) []byte {
	var packed []byte
	for _, d := range dims {
		packed = protowire.AppendVarint(packed, uint64(d))
	}
	b := bytesField(nil, 1, packed)
	var raw []byte
	if fp16 {
		b = varintField(b, 2, 10)
		for _, v := range data {
			raw = binary.LittleEndian.AppendUint16(raw, float16.Fromfloat32(v).Bits())
		}
	} else {
		b = varintField(b, 2, 1)
		for _, v := range data {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
		}
	}
	b = bytesField(b, 8, []byte(name))
	return bytesField(b, 9, raw)
}

// encode returns s as the bytes of an ONNX model.
func encode(s netSpec) []byte {
	var g []byte
	var inits [][]byte
	cur := "input"
	param := func(name string, data []float32, dims []int) string {
		inits = append(inits, initializer(name, data, dims, s.fp16))
		if !s.fp16 {
			return name
		}
		g = bytesField(g, 1, node(name+".cast", "Cast", []string{name}, name+".f32", intAttr("to", 1)))
		return name + ".f32"
	}
	for i, l := range s.layers {
		out := "layer" + itoa(i) + ".out"
		if i == len(s.layers)-1 {
			out = "logits"
		}
		in := []string{cur}
		var attrs [][]byte
		switch l.op {
		case "Gemm", "Conv":
			in = append(in, param("layer"+itoa(i)+".weight", l.w, l.wshape))
			if l.b != nil {
				in = append(in, param("layer"+itoa(i)+".bias", l.b, []int{len(l.b)}))
			}
		}
		switch l.op {
		case "Conv", "MaxPool":
			k, st, p := int64(l.k), int64(l.s), int64(l.p)
			attrs = [][]byte{intsAttr("kernel_shape", k, k), intsAttr("pads", p, p, p, p), intsAttr("strides", st, st)}
		case "Flatten":
			attrs = [][]byte{intAttr("axis", 1)}
		}
		g = bytesField(g, 1, node("layer"+itoa(i)+"."+l.op, l.op, in, out, attrs...))
		cur = out
	}
	g = bytesField(g, 2, []byte("distill-student"))
	for _, t := range inits {
		g = bytesField(g, 5, t)
	}
	g = bytesField(g, 11, ValueInfo("input", s.inShape))
	g = bytesField(g, 12, ValueInfo("logits", []int{s.classes}))

	m := varintField(nil, 1, 7)
	m = bytesField(m, 2, []byte("distill"))
	m = bytesField(m, 3, []byte("0.1.0"))
	m = bytesField(m, 7, g)
	m = bytesField(m, 8, varintField(bytesField(nil, 1, nil), 2, 13))
	zeros := bytes.Repeat([]byte{'0'}, 64)
	if s.checksum {
		m = bytesField(m, 14, bytesField(bytesField(nil, 1, []byte("distill.model_sha256")), 2, zeros))
	}
	for _, kv := range s.meta {
		m = bytesField(m, 14, bytesField(bytesField(nil, 1, []byte(kv[0])), 2, []byte(kv[1])))
	}
	if s.checksum {
		sum := sha256.Sum256(m)
		i := bytes.Index(m, zeros)
		hex.Encode(m[i:], sum[:])
	}
	return m
}

func itoa(i int) string { return string(rune('0' + i)) }

// write writes s to a file in a temporary directory and returns its path.
func write(tb testing.TB, s netSpec) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "model.onnx")
	if err := os.WriteFile(path, encode(s), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// randn returns n seeded normal values times scale.
func randn(r *rand.Rand, n int, scale float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64() * scale)
	}
	return out
}

// mlp returns a Gemm-Relu network of the given widths with seeded weights (He-scaled so that
// activations keep their size).
func mlp(seed uint64, widths ...int) netSpec {
	r := rand.New(rand.NewPCG(seed, 1))
	s := netSpec{inShape: []int{widths[0]}, classes: widths[len(widths)-1]}
	for i := 0; i+1 < len(widths); i++ {
		in, out := widths[i], widths[i+1]
		if i > 0 {
			s.layers = append(s.layers, layer{op: "Relu"})
		}
		s.layers = append(s.layers, layer{op: "Gemm", w: randn(r, in*out, math.Sqrt(2/float64(in))), wshape: []int{in, out}, b: randn(r, out, 0.1)})
	}
	return s
}

// cnn returns Conv(3x3, pad 1) - Relu - MaxPool(2) - Flatten - Gemm on [c, h, w] inputs.
func cnn(seed uint64, c, h, w, filters, classes int) netSpec {
	r := rand.New(rand.NewPCG(seed, 2))
	flat := filters * (h / 2) * (w / 2)
	return netSpec{inShape: []int{c, h, w}, classes: classes, layers: []layer{
		{op: "Conv", w: randn(r, filters*c*9, math.Sqrt(2/float64(c*9))), wshape: []int{filters, c, 3, 3}, b: randn(r, filters, 0.1), k: 3, s: 1, p: 1},
		{op: "Relu"},
		{op: "MaxPool", k: 2, s: 2},
		{op: "Flatten"},
		{op: "Gemm", w: randn(r, flat*classes, math.Sqrt(1/float64(flat))), wshape: []int{flat, classes}, b: randn(r, classes, 0.1)},
	}}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 4)) }
