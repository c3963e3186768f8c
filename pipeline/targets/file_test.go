package targets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/internal/safetensors"
	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/google/go-cmp/cmp"
)

const testDataSHA = "5f0e3b6e2a3c1d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccd"

// testMeta returns metadata for k teachers over dataN samples of c classes.
func testMeta(k, dataN, c int) Meta {
	m := Meta{DataSHA256: testDataSHA, DataN: dataN, Classes: c}
	for i := range k {
		m.Teachers = append(m.Teachers, TeacherInfo{
			Path: fmt.Sprintf("/models/teacher%d.onnx", i), SHA256: fmt.Sprintf("%064x", i+1),
			Input: "input", Output: "logits", OutputKind: "logits",
			Preprocess: dataset.Preprocess{Scale: 255, Mean: []float64{0.1307}, Std: []float64{0.3081}, InputShape: []int{1, 28, 28}},
		})
	}
	return m
}

// logitAt is the test logit of teacher k, sample i, class j: distinct values of both
// signs, most not representable exactly in float16.
func logitAt(k, i, j int) float32 {
	return float32(k*100+i)/7 - float32(j)*1.3
}

// writeTargets writes the logits of samples [start,end) for meta's teachers, in batches
// of batch samples, teachers interleaved as `distill targets` does it.
func writeTargets(t testing.TB, path string, meta Meta, start, end, batch int, fp16 bool) {
	t.Helper()
	meta.Start, meta.End = start, end
	k, c := meta.K(), meta.Classes
	tw, err := Create(path, meta, k, end-start, c, fp16)
	if err != nil {
		t.Fatal(err)
	}
	defer tw.Abort()
	for s := start; s < end; s += batch {
		e := min(s+batch, end)
		for kk := range k {
			rows := make([]float32, 0, (e-s)*c)
			for i := s; i < e; i++ {
				for j := range c {
					rows = append(rows, logitAt(kk, i, j))
				}
			}
			if err := tw.WriteBatch(kk, s, rows); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestTargetsRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		k, n, c int
		fp16    bool
		shape   []int
	}{
		{"f32 one teacher", 1, 37, 10, false, []int{37, 10}},
		{"f16 one teacher", 1, 37, 10, true, []int{37, 10}},
		{"f32 ensemble", 3, 20, 4, false, []int{3, 20, 4}},
		{"f16 ensemble", 2, 20, 4, true, []int{2, 20, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.safetensors")
			writeTargets(t, path, testMeta(tt.k, tt.n, tt.c), 0, tt.n, 8, tt.fp16)
			st, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if st.K != tt.k || st.N != tt.n || st.Classes != tt.c || st.DataSHA256 != testDataSHA {
				t.Errorf("K=%d N=%d C=%d data=%s", st.K, st.N, st.Classes, st.DataSHA256)
			}
			if st.Meta.Teachers[0].Path != "teacher0.onnx" || st.Meta.Tool != meta.ToolVersion || st.Meta.Start != 0 || st.Meta.End != tt.n {
				t.Errorf("meta = %+v", st.Meta)
			}
			info, _ := st.f.Tensor("logits")
			if !cmp.Equal(info.Shape, tt.shape) {
				t.Errorf("shape %v, want %v", info.Shape, tt.shape)
			}
			all, err := st.Logits()
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != tt.k*tt.n*tt.c {
				t.Fatalf("%d logits", len(all))
			}
			// float32 is exact; float16 keeps an 11-bit significand (relative error 2^-11).
			tol := 0.0
			if tt.fp16 {
				tol = 1.0 / 2048
			}
			for k := range tt.k {
				for i := range tt.n {
					for j := range tt.c {
						want, got := logitAt(k, i, j), all[(k*tt.n+i)*tt.c+j]
						if math.Abs(float64(got-want)) > tol*math.Abs(float64(want)) {
							t.Fatalf("teacher %d sample %d class %d: %v, want %v", k, i, j, got, want)
						}
					}
				}
			}
			rows, err := st.Rows(tt.k-1, 5, 3)
			if err != nil {
				t.Fatal(err)
			}
			if want := all[((tt.k-1)*tt.n+5)*tt.c : ((tt.k-1)*tt.n+8)*tt.c]; !cmp.Equal(rows, want) {
				t.Errorf("Rows = %v, want %v", rows, want)
			}
			if _, err := st.Rows(tt.k, 0, 1); err == nil {
				t.Error("Rows of a missing teacher: no error")
			}
		})
	}
}

// TestMergeShards checks that n shards merged give the bytes of one run, whatever the
// order the parts are given in.
func TestMergeShards(t *testing.T) {
	for _, tc := range []struct {
		k    int
		fp16 bool
	}{{1, false}, {1, true}, {2, false}, {3, true}} {
		t.Run(fmt.Sprintf("k=%d fp16=%v", tc.k, tc.fp16), func(t *testing.T) {
			dir := t.TempDir()
			const n, c, shards = 100, 7, 3
			meta := testMeta(tc.k, n, c)
			whole := filepath.Join(dir, "whole.safetensors")
			writeTargets(t, whole, meta, 0, n, 16, tc.fp16)
			var parts []string
			for i := range shards {
				s, e := ShardRange(i, shards, n)
				p := filepath.Join(dir, fmt.Sprintf("part%d.safetensors", i))
				writeTargets(t, p, meta, s, e, 9, tc.fp16)
				parts = append(parts, p)
			}
			merged := filepath.Join(dir, "merged.safetensors")
			if err := Merge(context.Background(), merged, []string{parts[2], parts[0], parts[1]}); err != nil {
				t.Fatal(err)
			}
			a, _ := os.ReadFile(whole)
			b, _ := os.ReadFile(merged)
			if !bytes.Equal(a, b) {
				t.Errorf("merged file (%d bytes) differs from a single run (%d bytes)", len(b), len(a))
			}
		})
	}
}

func TestMergeRefuses(t *testing.T) {
	dir := t.TempDir()
	const n, c = 30, 3
	meta := testMeta(1, n, c)
	part := func(name string, m Meta, s, e int, fp16 bool) string {
		p := filepath.Join(dir, name)
		writeTargets(t, p, m, s, e, 7, fp16)
		return p
	}
	a := part("a", meta, 0, 10, false)
	b := part("b", meta, 10, 20, false)
	c3 := part("c", meta, 20, 30, false)
	gapB := part("gapb", meta, 12, 20, false)
	overB := part("overb", meta, 8, 20, false)
	foreign := testMeta(1, n, c)
	foreign.Teachers[0].SHA256 = strings.Repeat("e", 64)
	foreignB := part("foreign", foreign, 10, 20, false)
	otherPre := testMeta(1, n, c)
	otherPre.Teachers[0].Preprocess.Std = []float64{0.5}
	otherPreB := part("otherpre", otherPre, 10, 20, false)
	otherData := testMeta(1, n, c)
	otherData.DataSHA256 = strings.Repeat("d", 64)
	otherDataB := part("otherdata", otherData, 10, 20, false)
	otherC := testMeta(1, n, c+1)
	otherCB := part("otherc", otherC, 10, 20, false)
	f16B := part("f16", meta, 10, 20, true)
	ens := part("ens", testMeta(2, n, c), 10, 20, false)

	tests := []struct {
		name  string
		parts []string
		want  string
	}{
		{"gap", []string{a, gapB, c3}, "gap: samples 10:12"},
		{"overlap", []string{a, overB}, "overlap"},
		{"duplicate part", []string{a, a}, "overlap"},
		{"foreign teacher", []string{a, foreignB}, "teacher 0 with sha256 " + strings.Repeat("e", 64)},
		{"other preprocessing", []string{a, otherPreB}, "teacher settings"},
		{"other data", []string{a, otherDataB}, "data sha256 " + strings.Repeat("d", 64)},
		{"other classes", []string{a, otherCB}, "class count 4"},
		{"other dtype", []string{a, f16B}, "dtype F16"},
		{"other teacher count", []string{a, ens}, "teacher count 2"},
		{"no parts", nil, "no parts"},
		{"missing part", []string{a, filepath.Join(dir, "nope")}, "no such file"},
	}
	out := filepath.Join(dir, "out.safetensors")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Merge(context.Background(), out, tt.parts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("output left behind: %v", err)
			}
		})
	}
	t.Run("partial merge", func(t *testing.T) {
		if err := Merge(context.Background(), out, []string{b, c3}); err != nil {
			t.Fatal(err)
		}
		st, err := Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if st.Meta.Start != 10 || st.Meta.End != 30 || st.N != 20 {
			t.Errorf("range %d:%d N=%d", st.Meta.Start, st.Meta.End, st.N)
		}
		err = st.CheckData(&dataset.Dataset{Path: "x", SHA256: testDataSHA, N: n})
		if err == nil || !strings.Contains(err.Error(), "holds samples 10:30 of 30 only") {
			t.Errorf("CheckData of a shard: %v", err)
		}
	})
}

func TestTargetsChecks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.safetensors")
	writeTargets(t, path, testMeta(1, 12, 5), 0, 12, 5, false)
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"same data", st.CheckData(&dataset.Dataset{Path: "d.npy", SHA256: testDataSHA, N: 12}), ""},
		{"other data", st.CheckData(&dataset.Dataset{Path: "d.npy", SHA256: "abc", N: 12}), "sha256 " + testDataSHA + ", but d.npy has sha256 abc"},
		{"other N", st.CheckData(&dataset.Dataset{Path: "d.npy", SHA256: testDataSHA, N: 13}), "12 samples, but d.npy has 13"},
		{"same classes", st.CheckClasses(5), ""},
		{"other classes", st.CheckClasses(10), "5 classes, but the student has 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == "" {
				if tt.err != nil {
					t.Errorf("err = %v", tt.err)
				}
				return
			}
			if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) || !strings.Contains(tt.err.Error(), path) || !errors.Is(tt.err, ErrMismatch) {
				t.Errorf("err = %v, want %q naming %s", tt.err, tt.want, path)
			}
		})
	}
}

func TestTargetsWriterErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.safetensors")
	meta := testMeta(2, 10, 3)
	if _, err := Create(path, meta, 1, 10, 3, false); err == nil {
		t.Error("teacher count mismatch: no error")
	}
	if _, err := Create(path, Meta{Teachers: meta.Teachers, DataN: 5}, 2, 10, 3, false); err == nil {
		t.Error("range past the data: no error")
	}
	tw, err := Create(path, meta, 2, 10, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		teacher int
		start   int
		logits  []float32
		want    string
	}{
		{"nan", 0, 0, []float32{1, float32(math.NaN()), 0}, "sample 0: logit 1 is NaN"},
		{"inf", 1, 4, []float32{0, 0, 0, 1, 2, float32(math.Inf(-1))}, "teacher 1, sample 5: logit 2 is -Inf"},
		{"f16 overflow", 0, 0, []float32{7e4, 0, 0}, "overflows float16"},
		{"partial row", 0, 0, []float32{1, 2}, "whole number of rows"},
		{"past the end", 0, 9, []float32{1, 2, 3, 4, 5, 6}, "outside the file's range"},
		{"bad teacher", 2, 0, []float32{1, 2, 3}, "teacher 2 of 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tw.WriteBatch(tc.teacher, tc.start, tc.logits)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if err := tw.WriteBatch(0, 0, make([]float32, 30)); err != nil {
		t.Fatal(err)
	}
	err = tw.Commit()
	if err == nil || !strings.Contains(err.Error(), "never written") {
		t.Errorf("commit with teacher 1 missing: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file exists after a failed commit: %v", err)
	}
}

// TestTargetsDamage cuts a soft-target file at every length and flips every byte:
// Open must refuse each variant.
func TestTargetsDamage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.safetensors")
	writeTargets(t, path, testMeta(1, 4, 3), 0, 4, 4, false)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.safetensors")
	refused := func(b []byte) error {
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := Open(bad)
		if err == nil {
			st.Close()
			return nil
		}
		if !strings.Contains(err.Error(), bad) {
			t.Errorf("error does not name the file: %v", err)
		}
		return err
	}
	for n := range len(good) {
		if refused(good[:n]) == nil {
			t.Errorf("cut at %d of %d bytes: accepted", n, len(good))
		}
	}
	for i := range good {
		b := bytes.Clone(good)
		b[i] ^= 0x10
		if refused(b) == nil {
			t.Errorf("byte %d flipped: accepted", i)
		}
	}
	// A flipped byte in the header and in the data, with the messages a user sees.
	b := bytes.Clone(good)
	b[40] ^= 1
	if err := refused(b); err == nil || !errors.Is(err, safetensors.ErrCorrupt) {
		t.Errorf("header byte: %v", err)
	}
	b = bytes.Clone(good)
	b[len(b)-2] ^= 1
	if err := refused(b); err == nil || !strings.Contains(err.Error(), "data damaged") {
		t.Errorf("data byte: %v", err)
	}
	// A valid safetensors file that is not a soft-target file.
	other := filepath.Join(dir, "other.safetensors")
	if err := safetensors.WriteFile(other, []safetensors.Tensor{{Name: "logits", DType: "F32", Shape: []int{1, 1}, Data: make([]byte, 4)}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(other); err == nil || !strings.Contains(err.Error(), "not a soft-target file") {
		t.Errorf("plain safetensors file: %v", err)
	}
}

func TestShardRange(t *testing.T) {
	for _, tc := range []struct{ n, N int }{{1, 10}, {3, 10}, {4, 60000}, {7, 5}, {5, 5}} {
		t.Run(fmt.Sprintf("%d of %d", tc.n, tc.N), func(t *testing.T) {
			prev := 0
			for i := range tc.n {
				s, e := ShardRange(i, tc.n, tc.N)
				if s != prev || e < s {
					t.Fatalf("shard %d = %d:%d after %d", i, s, e, prev)
				}
				if size := e - s; size < tc.N/tc.n || size > tc.N/tc.n+1 {
					t.Errorf("shard %d has %d samples", i, size)
				}
				prev = e
			}
			if prev != tc.N {
				t.Errorf("shards end at %d, want %d", prev, tc.N)
			}
		})
	}
	for _, tc := range []struct {
		s    string
		i, n int
		ok   bool
	}{{"0/4", 0, 4, true}, {"3/4", 3, 4, true}, {"4/4", 0, 0, false}, {"-1/2", 0, 0, false}, {"1", 0, 0, false}, {"a/b", 0, 0, false}, {"0/0", 0, 0, false}} {
		i, n, err := ParseShard(tc.s)
		if (err == nil) != tc.ok || i != tc.i || n != tc.n {
			t.Errorf("ParseShard(%q) = %d, %d, %v", tc.s, i, n, err)
		}
	}
}

// FuzzOpenTargets feeds arbitrary bytes to Open; it must refuse them or give a file
// whose logits can all be read, never panic.
func FuzzOpenTargets(f *testing.F) {
	dir := f.TempDir()
	for i, fp16 := range []bool{false, true} {
		p := filepath.Join(dir, fmt.Sprintf("seed%d", i))
		writeTargets(f, p, testMeta(i+1, 3, 2), 0, 3, 2, fp16)
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sf, err := safetensors.OpenReader(bytes.NewReader(b), int64(len(b)), "fuzz")
		if err != nil {
			return
		}
		st, err := targetsFromFile("fuzz", sf)
		if err != nil {
			return
		}
		defer st.Close()
		all, err := st.Logits()
		if err != nil || len(all) != st.K*st.N*st.Classes {
			t.Errorf("logits: %d values, %v", len(all), err)
		}
		if _, err := st.Rows(0, st.Meta.Start, st.N); err != nil {
			t.Errorf("rows: %v", err)
		}
	})
}
