package onnx_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/distillgo/distill/internal/nn"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
)

// TestQuantizeChannels checks scales and values of hand-worked cases: the largest magnitude of a
// channel maps to ±127, halves round to even, a channel of zeros gets scale 1, and the layout
// (rows × channels × inner) picks the right channel for each weight.
func TestQuantizeChannels(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		w                     []float32
		rows, channels, inner int
		wantQ                 []int8
		wantScales            []float32
	}{
		{"scale 1", []float32{127, 2.5, -1.5, 0.5, -127}, 5, 1, 1, []int8{127, 2, -2, 0, -127}, []float32{1}},
		{"negative extreme", []float32{-254, 100, 3}, 3, 1, 1, []int8{-127, 50, 2}, []float32{2}},
		{"zero channel", []float32{0, 0, 0}, 3, 1, 1, []int8{0, 0, 0}, []float32{1}},
		// Gemm [in 2, out 3]: channels are columns.
		{"gemm columns", []float32{127, 0, -2.54, -63.5, 0, 1.27}, 2, 3, 1, []int8{127, 0, -127, -64, 0, 64}, []float32{1, 1, 0.02}},
		// Conv [2 filters, 1, 1, 2]: channels are filters of 2 weights.
		{"conv filters", []float32{1.27, -0.635, 0, 254}, 1, 2, 2, []int8{127, -64, 0, 127}, []float32{0.01, 2}},
		{"huge", []float32{3e38, -1e38}, 2, 1, 1, []int8{127, -42}, nil},
		{"subnormal", []float32{1e-44, 0}, 2, 1, 1, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, scales, err := onnx.QuantizeChannels(tc.w, tc.rows, tc.channels, tc.inner)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantQ != nil && !slices.Equal(q, tc.wantQ) {
				t.Errorf("q = %v, want %v", q, tc.wantQ)
			}
			for c, s := range scales {
				// Scales may sit a few ulps off m/127 (the fixed-point nudge): compare at 1e-6.
				if tc.wantScales != nil && math.Abs(float64(s-tc.wantScales[c])) > 1e-6*float64(tc.wantScales[c]) {
					t.Errorf("scale %d = %v, want %v", c, s, tc.wantScales[c])
				}
				if !(s > 0) || math.IsInf(float64(s), 0) {
					t.Errorf("scale %d = %v, want positive and finite", c, s)
				}
			}
			checkQuantized(t, tc.w, q, scales, tc.rows, tc.inner)
		})
	}
}

// checkQuantized checks that dequantised weights lie within half a step (plus float32 rounding)
// of w, and that quantising them again gives the same values and scales bit for bit.
func checkQuantized(t *testing.T, w []float32, q []int8, scales []float32, rows, inner int) {
	t.Helper()
	back := onnx.DequantizeChannels(q, scales, rows, inner)
	for i := range w {
		s := float64(scales[(i/inner)%len(scales)])
		if d := math.Abs(float64(w[i]) - float64(back[i])); d > s/2*(1+1e-6)+1e-45 {
			t.Fatalf("weight %d: %v dequantises to %v, more than half a step %v off", i, w[i], back[i], s)
		}
	}
	q2, scales2, err := onnx.QuantizeChannels(back, rows, len(scales), inner)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(q, q2) || !slices.EqualFunc(scales, scales2, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
		t.Fatalf("quantise(dequantise(q)) differs: scales %v -> %v", scales, scales2)
	}
}

// TestQuantizeIdempotent quantises many seeded random channels of magnitudes from 1e-30 to 1e30
// and checks the half-step bound and that a second quantisation changes nothing.
func TestQuantizeIdempotent(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	const rows, channels = 7, 300
	w := make([]float32, rows*channels)
	for c := 0; c < channels; c++ {
		mag := math.Pow(10, rng.Float64()*60-30)
		for r := 0; r < rows; r++ {
			w[r*channels+c] = float32((rng.Float64()*2 - 1) * mag)
		}
	}
	q, scales, err := onnx.QuantizeChannels(w, rows, channels, 1)
	if err != nil {
		t.Fatal(err)
	}
	checkQuantized(t, w, q, scales, rows, 1)
}

func TestQuantizeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    []float32
	}{
		{"nan", []float32{1, float32(math.NaN())}},
		{"inf", []float32{float32(math.Inf(-1)), 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := onnx.QuantizeChannels(tc.w, 2, 1, 1); !errors.Is(err, onnx.ErrQuantize) {
				t.Errorf("err = %v, want ErrQuantize", err)
			}
		})
	}
	if _, _, err := onnx.QuantizeChannels([]float32{1, 2, 3}, 2, 1, 1); err == nil {
		t.Error("a layout that does not fit the weights was accepted")
	}
}

// roundInt8 returns g with every weight (an initializer with a channel axis) quantised and
// dequantised, the values an Int8 export computes with.
func roundInt8(t testing.TB, g onnx.ExportGraph) onnx.ExportGraph {
	t.Helper()
	g.Inits = append([]nn.ONNXInit(nil), g.Inits...)
	for i, in := range g.Inits {
		if in.ChannelAxis < 0 {
			continue
		}
		rows, channels, inner := 1, in.Dims[in.ChannelAxis], 1
		for _, d := range in.Dims[:in.ChannelAxis] {
			rows *= d
		}
		for _, d := range in.Dims[in.ChannelAxis+1:] {
			inner *= d
		}
		q, scales, err := onnx.QuantizeChannels(in.Values, rows, channels, inner)
		if err != nil {
			t.Fatal(err)
		}
		g.Inits[i].Values = onnx.DequantizeChannels(q, scales, rows, inner)
	}
	return g
}

func withInt8(g onnx.ExportGraph, opset int) onnx.ExportGraph {
	g.Opset, g.Int8 = opset, true
	return g
}

// TestInt8Size checks that the int8 weights of a 64 -> 32 -> 10 MLP take a quarter of their
// float32 bytes: the file shrinks by 3 bytes a weight, less 4 bytes a scale and the nodes.
func TestInt8Size(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	g := onnx.ChainForTest([]int{64}, 10,
		onnx.ChainLayer{Op: "Gemm", Weight: randVals(rng, 64*32, 0.5), WeightShape: []int{64, 32}, Bias: randVals(rng, 32, 0.1)},
		onnx.ChainLayer{Op: "Relu"},
		onnx.ChainLayer{Op: "Gemm", Weight: randVals(rng, 32*10, 0.5), WeightShape: []int{32, 10}, Bias: randVals(rng, 10, 0.1)})
	f32, err := onnx.Encode(g)
	if err != nil {
		t.Fatal(err)
	}
	i8, err := onnx.Encode(withInt8(g, 0))
	if err != nil {
		t.Fatal(err)
	}
	const weights, scales = 64*32 + 32*10, 32 + 10
	if saved := len(f32) - len(i8); saved < 3*weights-4*scales-400 {
		t.Errorf("int8 export is %d bytes, float32 %d: saved %d, want about 3 x %d weights - 4 x %d scales", len(i8), len(f32), saved, weights, scales)
	}
	t.Logf("float32 %d bytes, int8 %d bytes (%.1f%%)", len(f32), len(i8), 100*float64(len(i8))/float64(len(f32)))
}

// TestImportInt8Errors checks that ImportGraph refuses int8 weights in any form but the one
// Export writes, since only that form re-exports to the same file. (Another scale, or other values
// with a ±127 in each channel, are such a form: they are the quantisation of other weights.)
func TestImportInt8Errors(t *testing.T) {
	data, err := onnx.Encode(withInt8(testCNN(2), 0))
	if err != nil {
		t.Fatal(err)
	}
	find := func(m *pb.ModelProto, name string) *pb.TensorProto {
		for _, in := range m.Graph.Initializer {
			if in.Name == name {
				return in
			}
		}
		t.Fatalf("no initializer %q", name)
		return nil
	}
	node := func(m *pb.ModelProto, name string) *pb.NodeProto {
		for _, n := range m.Graph.Node {
			if n.Name == name {
				return n
			}
		}
		t.Fatalf("no node %q", name)
		return nil
	}
	for _, tc := range []struct {
		name string
		edit func(m *pb.ModelProto)
		want string
	}{
		// Channels whose largest |q| is 1, not 127: the quantiser would choose 1/127 of the scale.
		{"channel without ±127", func(m *pb.ModelProto) {
			w := find(m, "layer3.weight")
			for i := range w.RawData {
				w.RawData[i] = 1
			}
		}, "has scale"},
		{"other axis", func(m *pb.ModelProto) { node(m, "layer0.weight.dequantize").Attribute[0].I = 1 }, "scale"},
		{"int8 used directly", func(m *pb.ModelProto) { node(m, "layer5.Gemm").Input[1] = "layer5.weight" }, "used without a DequantizeLinear"},
		{"non-zero zero point", func(m *pb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, &pb.TensorProto{Name: "zp", Dims: []int64{3}, DataType: int32(pb.TensorProto_INT8), RawData: []byte{0, 1, 0}})
			n := node(m, "layer0.weight.dequantize")
			n.Input = append(n.Input, "zp")
		}, "zero point"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m pb.ModelProto
			if err := proto.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			tc.edit(&m)
			b, err := proto.Marshal(&m)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "m.onnx")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := onnx.ImportGraph(path); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ImportGraph: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// A zero point of zeros is accepted.
	var m pb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m.Graph.Initializer = append(m.Graph.Initializer, &pb.TensorProto{Name: "zp", Dims: []int64{3}, DataType: int32(pb.TensorProto_INT8), RawData: []byte{0, 0, 0}})
	n := node(&m, "layer0.weight.dequantize")
	n.Input = append(n.Input, "zp")
	b, _ := proto.Marshal(&m)
	path := filepath.Join(t.TempDir(), "zp.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if g, err := onnx.ImportGraph(path); err != nil || !g.Int8 {
		t.Errorf("ImportGraph with a zero point of zeros: %v", err)
	}
}

// BenchmarkInt8 runs a 784 -> 800 -> 800 -> 10 MLP (the MNIST demo student's shape) under
// onnxruntime on batches of 256, with float32 and with int8 weights.
func BenchmarkInt8(b *testing.B) {
	onnxtest.RequireLibrary(b)
	rng := rand.New(rand.NewPCG(3, 3))
	g := onnx.ChainForTest([]int{784}, 10,
		onnx.ChainLayer{Op: "Gemm", Weight: randVals(rng, 784*800, 0.05), WeightShape: []int{784, 800}, Bias: randVals(rng, 800, 0.1)},
		onnx.ChainLayer{Op: "Relu"},
		onnx.ChainLayer{Op: "Gemm", Weight: randVals(rng, 800*800, 0.05), WeightShape: []int{800, 800}, Bias: randVals(rng, 800, 0.1)},
		onnx.ChainLayer{Op: "Relu"},
		onnx.ChainLayer{Op: "Gemm", Weight: randVals(rng, 800*10, 0.05), WeightShape: []int{800, 10}, Bias: randVals(rng, 10, 0.1)})
	const n = 256
	x := randVals(rng, n*784, 1)
	for _, int8 := range []bool{false, true} {
		name := "float32"
		if int8 {
			name = "int8"
		}
		b.Run(name, func(b *testing.B) {
			g := withInt8(g, 0)
			g.Int8 = int8
			path := filepath.Join(b.TempDir(), "mlp.onnx")
			if err := onnx.Export(path, g); err != nil {
				b.Fatal(err)
			}
			s, err := onnx.Open(path, onnx.Options{Output: onnx.OutputLogits, Batch: n})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.ResetTimer()
			for range b.N {
				if _, err := s.Logits(context.Background(), x, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
