package dataset

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// CheckScale refuses data that is not on the scale a model recorded for its input, when the scale
// came from that recording (p.ScaleFrom) rather than from the user: float data already in
// [-1, 1] against a recorded scale above 1 (an MNIST model's 255 would divide it again, leaving
// values near 0), and uint8 data against a recorded scale of 1 or less with a mean and std on the
// scaled range (the model was trained on scaled floats; int8 data is left alone, as quantised
// inputs take a scale of 1). Either way the data could mean two things, so the error names flag, with which
// the user says which.
func (p Preprocess) CheckScale(ds *Dataset, flag string) error {
	if p.ScaleFrom == "" || p.Scale == 0 || len(ds.X) == 0 {
		return nil
	}
	s := strconv.FormatFloat(p.Scale, 'g', -1, 64)
	eightBit := ds.DType == "uint8" || ds.DType == "int8"
	// A mean or std above 1 is on the raw scale: a model trained on raw pixels with scale 1,
	// mean 127.5 and std 127.5 records exactly what 8-bit data needs.
	rawStats := false
	for _, v := range append(slices.Clone(p.Mean), p.Std...) {
		rawStats = rawStats || math.Abs(v) > 1
	}
	switch {
	case p.Scale > 1 && !eightBit:
		// The first value outside [-1, 1] (or NaN) settles it: raw data costs a few values.
		lo, hi := ds.X[0], ds.X[0]
		for _, v := range ds.X {
			if !(v >= -1 && v <= 1) {
				return nil
			}
			lo, hi = min(lo, v), max(hi, v)
		}
		return fmt.Errorf("%s: data %s holds %s values in [%g, %g], already scaled, but %s records scale %s for raw values: dividing by %s again would leave them near 0; give %s 1 if the data is scaled (or %s %s to divide anyway)",
			flag, ds.Path, ds.DType, lo, hi, p.ScaleFrom, s, s, flag, flag, s)
	case p.Scale <= 1 && ds.DType == "uint8" && !rawStats:
		return fmt.Errorf("%s: data %s holds raw %s values, but %s records scale %s, for data already scaled: give %s 255 to scale 8-bit pixels to [0, 1] (or %s %s to feed the raw values)",
			flag, ds.Path, ds.DType, p.ScaleFrom, s, flag, flag, s)
	}
	return nil
}
