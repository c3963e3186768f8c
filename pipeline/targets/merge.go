package targets

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/distillgo/distill/internal/safetensors"
)

// Merge joins soft-target shards into one file at out, in the order of their
// ranges, whatever the order of parts. It refuses parts that leave a gap or overlap, and
// parts that differ in teachers (model sha256s or any other teacher field), data file,
// class count, dtype or tool version. The output is byte-identical to the file a single
// run over the joined range writes. The copy streams through a fixed-size buffer. A done ctx
// stops it between parts and between buffers, always before the file is moved into place: it
// returns an error wrapping ctx.Err() and leaves out as it was.
func Merge(ctx context.Context, out string, parts []string) (err error) {
	if len(parts) == 0 {
		return fmt.Errorf("merge soft targets %s: no parts", out)
	}
	ts := make([]*File, 0, len(parts))
	defer func() {
		for _, t := range ts {
			t.Close()
		}
	}()
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("merge soft targets %s: %w", out, err)
		}
		t, err := Open(p)
		if err != nil {
			return fmt.Errorf("merge soft targets %s: %w", out, err)
		}
		ts = append(ts, t)
	}
	sort.SliceStable(ts, func(a, b int) bool { return ts[a].Meta.Start < ts[b].Meta.Start })
	first := ts[0]
	for i, t := range ts {
		if err := sameSource(first, t); err != nil {
			return fmt.Errorf("merge soft targets %s: %w", out, err)
		}
		if i == 0 {
			continue
		}
		prev := ts[i-1].Meta
		switch {
		case t.Meta.Start > prev.End:
			return fmt.Errorf("merge soft targets %s: %w: gap: samples %d:%d are in no part (%s ends at %d, %s starts at %d)", out, ErrMismatch, prev.End, t.Meta.Start, ts[i-1].Path, prev.End, t.Path, t.Meta.Start)
		case t.Meta.Start < prev.End:
			return fmt.Errorf("merge soft targets %s: %w: overlap: %s holds %d:%d and %s holds %d:%d", out, ErrMismatch, ts[i-1].Path, prev.Start, prev.End, t.Path, t.Meta.Start, t.Meta.End)
		}
	}
	md := first.Meta
	md.End = ts[len(ts)-1].Meta.End
	n := md.End - md.Start
	tw, err := Create(out, md, md.K(), n, md.Classes, md.DType == "F16")
	if err != nil {
		return fmt.Errorf("merge soft targets: %w", err)
	}
	defer tw.Abort()
	size := int64(safetensors.DTypeSize(md.DType))
	c := int64(md.Classes)
	buf := make([]byte, 1<<20)
	chunk := int64(len(buf)) / size // elements per copy
	for k := range md.K() {
		for _, t := range ts {
			src := int64(k) * int64(t.N) * c
			dst := int64(k)*int64(n)*c + int64(t.Meta.Start-md.Start)*c
			total := int64(t.N) * c
			for done := int64(0); done < total; done += chunk {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("merge soft targets %s: %w", out, err)
				}
				m := min(chunk, total-done)
				b := buf[:m*size]
				if err := t.f.ReadAt(logitsTensor, src+done, b); err != nil {
					return fmt.Errorf("merge soft targets %s: %w", out, err)
				}
				if err := tw.w.WriteAt(logitsTensor, dst+done, b); err != nil {
					return fmt.Errorf("merge soft targets: %w", err)
				}
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("merge soft targets %s: %w", out, err)
	}
	if err := tw.Commit(); err != nil {
		return fmt.Errorf("merge soft targets: %w", err)
	}
	return nil
}

// sameSource refuses t unless it comes from the same teachers, data and settings as ref.
func sameSource(ref, t *File) error {
	a, b := ref.Meta, t.Meta
	mismatch := func(what string, x, y any) error {
		return fmt.Errorf("%w: %s has %s %v, but %s has %v", ErrMismatch, t.Path, what, y, ref.Path, x)
	}
	if a.K() != b.K() {
		return mismatch("teacher count", a.K(), b.K())
	}
	for i := range a.Teachers {
		if a.Teachers[i].SHA256 != b.Teachers[i].SHA256 {
			return mismatch(fmt.Sprintf("teacher %d with sha256", i), a.Teachers[i].SHA256+" ("+a.Teachers[i].Path+")", b.Teachers[i].SHA256+" ("+b.Teachers[i].Path+")")
		}
	}
	switch {
	case ref.TeachersJSON != t.TeachersJSON:
		return mismatch("teacher settings", ref.TeachersJSON, t.TeachersJSON)
	case a.DataSHA256 != b.DataSHA256:
		return mismatch("data sha256", a.DataSHA256, b.DataSHA256)
	case a.DataN != b.DataN:
		return mismatch("data sample count", a.DataN, b.DataN)
	case a.Classes != b.Classes:
		return mismatch("class count", a.Classes, b.Classes)
	case a.DType != b.DType:
		return mismatch("dtype", a.DType, b.DType)
	case a.Tool != b.Tool:
		return mismatch("tool version", a.Tool, b.Tool)
	case !slices.Equal(a.ClassNames, b.ClassNames):
		return mismatch("class names", a.ClassNames, b.ClassNames)
	}
	return nil
}
