package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/x448/float16"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/distillgo/distill/internal/option"
)

// This file holds the output a Session reads its class scores from: which of the model's outputs
// it is, the tensors it is read into, and the conversion of its values to float32 rows [n, classes].

// scoreType is the type of the output that holds the class scores.
type scoreType int

const (
	scoreFloat32      scoreType = iota // tensor(float) [N, classes], read as it is
	scoreFloat16                       // tensor(float16) [N, classes], widened to float32
	scoreBFloat16                      // tensor(bfloat16) [N, classes], widened to float32
	scoreFloat64                       // tensor(double) [N, classes], rounded to float32
	scoreZipMapInt64                   // seq(map(int64, float)): scikit-learn's ZipMap of probabilities
	scoreZipMapString                  // seq(map(string, float)): the same with string class labels
)

// zipMap says whether t reads a ZipMap (one map per sample, allocated by onnxruntime on each run)
// rather than a tensor.
func (t scoreType) zipMap() bool { return t == scoreZipMapInt64 || t == scoreZipMapString }

// scoreTypes are the value types (ValueInfo.Type) that can hold class scores.
var scoreTypes = map[string]scoreType{
	"float32":                  scoreFloat32,
	"float16":                  scoreFloat16,
	"bfloat16":                 scoreBFloat16,
	"float64":                  scoreFloat64,
	"seq(map(int64,float32))":  scoreZipMapInt64,
	"seq(map(string,float32))": scoreZipMapString,
}

// scoresWanted says, in errors, what an output holding class scores is.
const scoresWanted = "a float tensor (float32, float16, bfloat16 or float64) [N, classes] or a ZipMap seq(map(int64|string, float))"

// scoreTypeOf returns how an output v can be read as class scores, and false when it cannot: a
// tensor of a float type shaped [N, classes] (or of unknown shape, checked by the probing run), or
// a ZipMap.
func scoreTypeOf(v ValueInfo) (scoreType, bool) {
	t, ok := scoreTypes[v.Type]
	if !ok {
		return 0, false
	}
	if !t.zipMap() && v.Shape != nil && len(v.Shape) != 2 {
		return 0, false
	}
	return t, true
}

// chooseOutput returns the index in outs of the output that holds the class scores: the one
// named name, or with name empty the only output that can hold them. Errors that a different
// OutputName would fix are *option.Error for OutputName.
func chooseOutput(outs []ValueInfo, name string) (int, error) {
	if name != "" {
		i := slices.IndexFunc(outs, func(v ValueInfo) bool { return v.Name == name })
		if i < 0 {
			return 0, option.Errorf("onnx", "OutputName", "the model has no output %q; its outputs are %s", name, describeValues(outs))
		}
		if _, ok := scoreTypeOf(outs[i]); !ok {
			return 0, option.Errorf("onnx", "OutputName", "output %s cannot hold class scores: want %s", describeValue(outs[i]), scoresWanted)
		}
		return i, nil
	}
	var cand []int
	for i, v := range outs {
		if _, ok := scoreTypeOf(v); ok {
			cand = append(cand, i)
		}
	}
	switch {
	case len(cand) == 1:
		return cand[0], nil
	case len(cand) > 1:
		vs := make([]ValueInfo, len(cand))
		for j, i := range cand {
			vs[j] = outs[i]
		}
		return 0, option.Errorf("onnx", "OutputName", "the model has %d outputs that could hold the class scores, %s; choose one by its name", len(cand), describeValues(vs))
	case len(outs) == 1:
		return 0, fmt.Errorf("output %s cannot hold class scores: want %s", describeValue(outs[0]), scoresWanted)
	}
	return 0, fmt.Errorf("none of the model's outputs %s can hold class scores: want %s", describeValues(outs), scoresWanted)
}

// describeValue writes v as its quoted name, type and shape, e.g. `"probs" float32 [N, 3]`.
func describeValue(v ValueInfo) string {
	s := strconv.Quote(v.Name) + " " + orUnknown(v.Type)
	if v.Shape == nil || strings.HasPrefix(v.Type, "seq(") || strings.HasPrefix(v.Type, "map(") {
		return s
	}
	dims := make([]string, len(v.Shape))
	for i, d := range v.Shape {
		switch {
		case i < len(v.DimNames) && v.DimNames[i] != "":
			dims[i] = v.DimNames[i]
		case d < 0:
			dims[i] = "?"
		default:
			dims[i] = strconv.FormatInt(d, 10)
		}
	}
	return s + " [" + strings.Join(dims, ", ") + "]"
}

// describeValues writes each of vs as describeValue does, separated by commas.
func describeValues(vs []ValueInfo) string {
	ds := make([]string, len(vs))
	for i, v := range vs {
		ds[i] = describeValue(v)
	}
	return strings.Join(ds, ", ")
}

// newScoreTensor allocates the output tensor [rows, classes] that runs of rows samples write
// into, or returns nil for a ZipMap, which onnxruntime allocates on each run.
func newScoreTensor(t scoreType, rows, classes int) (ort.Value, error) {
	shape := ort.Shape{int64(rows), int64(classes)}
	n := rows * classes
	var v ort.Value
	var err error
	switch t {
	case scoreFloat32:
		v, err = nilIfErr(ort.NewEmptyTensor[float32](shape))
	case scoreFloat64:
		v, err = nilIfErr(ort.NewEmptyTensor[float64](shape))
	case scoreFloat16:
		v, err = nilIfErr(ort.NewCustomDataTensor(shape, make([]byte, 2*n), ort.TensorElementDataTypeFloat16))
	case scoreBFloat16:
		v, err = nilIfErr(ort.NewCustomDataTensor(shape, make([]byte, 2*n), ort.TensorElementDataTypeBFloat16))
	}
	return v, err
}

// nilIfErr returns v as an ort.Value, or a nil interface (not a typed nil pointer) with err.
func nilIfErr[T ort.Value](v T, err error) (ort.Value, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

// scores returns the class scores of the first r samples in v, the output of a run, as float32
// [r, classes]. A float32 tensor's data is returned as it is, without a copy; other types are
// converted into s.buf, which the next call reuses.
func (s *Session) scores(v ort.Value, r int) ([]float32, error) {
	n := r * s.classes
	if s.outType == scoreFloat32 {
		t, ok := v.(*ort.Tensor[float32])
		if !ok || len(t.GetData()) < n {
			return nil, fmt.Errorf("output %q: got %s, want a float32 tensor of %d values", s.out.Name, describeOrt(v), n)
		}
		return t.GetData()[:n], nil
	}
	if cap(s.buf) < n {
		s.buf = make([]float32, n)
	}
	dst := s.buf[:n]
	switch s.outType {
	case scoreFloat64:
		t, ok := v.(*ort.Tensor[float64])
		if !ok || len(t.GetData()) < n {
			return nil, fmt.Errorf("output %q: got %s, want a float64 tensor of %d values", s.out.Name, describeOrt(v), n)
		}
		for i, x := range t.GetData()[:n] {
			dst[i] = float32(x)
		}
	case scoreFloat16, scoreBFloat16:
		t, ok := v.(*ort.CustomDataTensor)
		if !ok || len(t.GetData()) < 2*n {
			return nil, fmt.Errorf("output %q: got %s, want a 16-bit float tensor of %d values", s.out.Name, describeOrt(v), n)
		}
		widen16(dst, t.GetData(), s.outType == scoreBFloat16)
	default:
		if err := s.zip.read(dst, v, r); err != nil {
			return nil, fmt.Errorf("output %q: %w", s.out.Name, err)
		}
	}
	return dst, nil
}

// widen16 converts the little-endian float16 (bfloat16 when brain) values in raw to dst.
func widen16(dst []float32, raw []byte, brain bool) {
	for i := range dst {
		u := binary.LittleEndian.Uint16(raw[2*i:])
		if brain {
			dst[i] = math.Float32frombits(uint32(u) << 16) // bfloat16 is the top half of a float32
		} else {
			dst[i] = float16.Frombits(u).Float32()
		}
	}
}

// describeOrt names the kind of an onnxruntime value for errors.
func describeOrt(v ort.Value) string {
	if v == nil {
		return "no value"
	}
	return fmt.Sprintf("%T with shape %v", v, v.GetShape())
}

// zipColumns maps the keys of a ZipMap, one map per sample from class label to probability, to
// the columns of the scores: the keys sorted, numerically (int64 keys) or lexically (strings).
type zipColumns struct {
	labels []string       // the class labels in column order, int64 keys in decimal
	ints   map[int64]int  // column of each int64 key
	strs   map[string]int // column of each string key
}

// newZipColumns reads the class labels from the first map of the ZipMap v (the probing run's
// output) and returns their columns.
func newZipColumns(v ort.Value, t scoreType) (*zipColumns, error) {
	seq, ok := v.(*ort.Sequence)
	if !ok {
		return nil, fmt.Errorf("got %s, want a sequence of maps", describeOrt(v))
	}
	maps, err := seq.GetValues()
	if err != nil {
		return nil, err
	}
	if len(maps) == 0 {
		return nil, fmt.Errorf("got an empty sequence for a run of at least one sample")
	}
	keys, _, err := zipEntry(maps[0])
	if err != nil {
		return nil, fmt.Errorf("map 0: %w", err)
	}
	z := &zipColumns{}
	switch k := keys.(type) {
	case []int64:
		sorted := slices.Clone(k)
		slices.Sort(sorted)
		z.ints = make(map[int64]int, len(sorted))
		for i, key := range sorted {
			z.ints[key] = i
			z.labels = append(z.labels, strconv.FormatInt(key, 10))
		}
	case []string:
		sorted := slices.Clone(k)
		slices.Sort(sorted)
		z.strs = make(map[string]int, len(sorted))
		for i, key := range sorted {
			z.strs[key] = i
		}
		z.labels = sorted
	}
	if len(z.labels) == 0 || (t == scoreZipMapInt64) != (z.ints != nil) {
		return nil, fmt.Errorf("map 0 has %d keys of type %T, want the classes' int64 or string keys", len(z.labels), keys)
	}
	if len(z.ints)+len(z.strs) != len(z.labels) {
		return nil, fmt.Errorf("map 0 repeats a key")
	}
	return z, nil
}

// read writes the probabilities of the first r maps of the ZipMap v into dst [r, classes], each
// in the column of its key; every map must hold exactly the classes of the first.
func (z *zipColumns) read(dst []float32, v ort.Value, r int) error {
	seq, ok := v.(*ort.Sequence)
	if !ok {
		return fmt.Errorf("got %s, want a sequence of maps", describeOrt(v))
	}
	maps, err := seq.GetValues()
	if err != nil {
		return err
	}
	if len(maps) < r {
		return fmt.Errorf("got %d maps for %d samples", len(maps), r)
	}
	c := len(z.labels)
	for i := range r {
		keys, probs, err := zipEntry(maps[i])
		if err != nil {
			return fmt.Errorf("map %d: %w", i, err)
		}
		if len(probs) != c {
			return fmt.Errorf("map %d has %d classes, the first run had %d", i, len(probs), c)
		}
		row := dst[i*c : (i+1)*c]
		for j, p := range probs {
			col, ok := z.column(keys, j)
			if !ok {
				return fmt.Errorf("map %d has class %v, which the first run did not have (%s)", i, key(keys, j), strings.Join(z.labels, ", "))
			}
			row[col] = p
		}
	}
	return nil
}

// column returns the column of the j-th key of keys ([]int64 or []string).
func (z *zipColumns) column(keys any, j int) (int, bool) {
	var col int
	var ok bool
	switch k := keys.(type) {
	case []int64:
		col, ok = z.ints[k[j]]
	case []string:
		col, ok = z.strs[k[j]]
	}
	return col, ok
}

// key returns the j-th key of keys ([]int64 or []string) for errors.
func key(keys any, j int) any {
	switch k := keys.(type) {
	case []int64:
		return k[j]
	case []string:
		return strconv.Quote(k[j])
	}
	return nil
}

// zipEntry returns the keys ([]int64 or []string) and float32 values of the map v.
func zipEntry(v ort.Value) (keys any, values []float32, err error) {
	m, ok := v.(*ort.Map)
	if !ok {
		return nil, nil, fmt.Errorf("got %s, want a map", describeOrt(v))
	}
	kv, vv, err := m.GetKeysAndValues()
	if err != nil {
		return nil, nil, err
	}
	vals, ok := vv.(*ort.Tensor[float32])
	if !ok {
		return nil, nil, fmt.Errorf("values are %s, want float32", describeOrt(vv))
	}
	switch k := kv.(type) {
	case *ort.Tensor[int64]:
		keys = k.GetData()
	case *ort.StringTensor:
		if keys, err = k.GetContents(); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("keys are %s, want int64 or string", describeOrt(kv))
	}
	if n := len(vals.GetData()); n != int(kv.GetShape().FlattenedSize()) {
		return nil, nil, fmt.Errorf("%d keys for %d values", kv.GetShape().FlattenedSize(), n)
	}
	return keys, vals.GetData(), nil
}
