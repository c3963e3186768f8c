package train

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Schedule sets the learning rate of each epoch. The zero value is the constant rate
// Settings.LR. A schedule changes the rate only between epochs, so a run that follows it gives
// the same weights as the run split into stages, each resumed with the next rate, and a resumed
// run continues it exactly.
type Schedule struct {
	// Steps, when not empty, are the epoch ranges and their rates: epochs 1..Steps[0].End run at
	// Steps[0].LR, the following ones up to Steps[1].End at Steps[1].LR, and so on. The last End
	// is the run's Epochs.
	Steps []Step
	// Cosine anneals the rate from Settings.LR towards 0 over Epochs: epoch e (from 1) runs at
	// LR * (1 + cos(pi * (e-1) / Epochs)) / 2 (Loshchilov & Hutter 2017, SGDR, without restarts,
	// stepped per epoch).
	Cosine bool
}

// Step is one range of a step schedule: the epochs after the previous step's End, up to End,
// run at LR.
type Step struct {
	End int
	LR  float64
}

// ParseSchedule parses a schedule as `distill train --schedule` takes it: "cosine", or epoch
// ranges with their rates, "END:LR[,END:LR...]", e.g. "30:1e-3,40:1e-4" (epochs 1 to 30 at 1e-3,
// 31 to 40 at 1e-4). Spaces may stand for the commas. The empty string is the constant rate.
func ParseSchedule(s string) (Schedule, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "constant":
		return Schedule{}, nil
	case "cosine":
		return Schedule{Cosine: true}, nil
	}
	var sch Schedule
	for f := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		end, lr, ok := strings.Cut(f, ":")
		if !ok {
			return Schedule{}, fmt.Errorf("schedule %q: %q is not END:LR (want cosine, or e.g. 30:1e-3,40:1e-4)", s, f)
		}
		e, err := strconv.Atoi(end)
		if err != nil {
			return Schedule{}, fmt.Errorf("schedule %q: epoch %q is not an integer", s, end)
		}
		r, err := strconv.ParseFloat(lr, 64)
		if err != nil {
			return Schedule{}, fmt.Errorf("schedule %q: rate %q is not a number", s, lr)
		}
		sch.Steps = append(sch.Steps, Step{End: e, LR: r})
	}
	if err := sch.check(0); err != nil {
		return Schedule{}, fmt.Errorf("schedule %q: %w", s, err)
	}
	return sch, nil
}

// String writes the schedule as ParseSchedule reads it ("" for the constant rate).
func (s Schedule) String() string {
	if s.Cosine {
		return "cosine"
	}
	parts := make([]string, len(s.Steps))
	for i, st := range s.Steps {
		parts[i] = strconv.Itoa(st.End) + ":" + strconv.FormatFloat(st.LR, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

// End returns the last epoch of a step schedule, 0 for the others (which fit any Epochs).
func (s Schedule) End() int {
	if len(s.Steps) == 0 {
		return 0
	}
	return s.Steps[len(s.Steps)-1].End
}

// check validates the schedule on its own and, with epochs > 0, against the run's epochs.
func (s Schedule) check(epochs int) error {
	if s.Cosine && len(s.Steps) > 0 {
		return errors.New("cosine and steps: choose one")
	}
	prev := 0
	for _, st := range s.Steps {
		if st.End <= prev {
			return fmt.Errorf("epoch %d after %d: the ends must increase from 1", st.End, prev)
		}
		if !(st.LR > 0) || math.IsInf(st.LR, 0) {
			return fmt.Errorf("rate %v of the epochs up to %d must be positive", st.LR, st.End)
		}
		prev = st.End
	}
	if end := s.End(); epochs > 0 && end > 0 && end != epochs {
		return fmt.Errorf("the steps end at epoch %d, but the run has %d epochs", end, epochs)
	}
	return nil
}

// Rate returns the learning rate of epoch (from 1) of a run of epochs epochs with base rate lr.
func (s Schedule) Rate(epoch, epochs int, lr float64) float64 {
	switch {
	case s.Cosine:
		return lr * (1 + math.Cos(math.Pi*float64(epoch-1)/float64(epochs))) / 2
	case len(s.Steps) > 0:
		for _, st := range s.Steps {
			if epoch <= st.End {
				return st.LR
			}
		}
		return s.Steps[len(s.Steps)-1].LR
	}
	return lr
}
