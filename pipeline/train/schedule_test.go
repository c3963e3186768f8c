package train

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/distillgo/distill/pipeline/internal/synth"
	"github.com/distillgo/distill/student"
)

func TestParseSchedule(t *testing.T) {
	tests := []struct {
		in      string
		want    Schedule
		wantErr string
	}{
		{in: "", want: Schedule{}},
		{in: "constant", want: Schedule{}},
		{in: "cosine", want: Schedule{Cosine: true}},
		{in: "30:1e-3,40:1e-4", want: Schedule{Steps: []Step{{30, 1e-3}, {40, 1e-4}}}},
		{in: "50:1e-3 90:3e-4 115:1e-4", want: Schedule{Steps: []Step{{50, 1e-3}, {90, 3e-4}, {115, 1e-4}}}},
		{in: "10:0.01", want: Schedule{Steps: []Step{{10, 0.01}}}},
		{in: "30", wantErr: "is not END:LR"},
		{in: "x:1e-3", wantErr: "epoch \"x\" is not an integer"},
		{in: "30:fast", wantErr: "rate \"fast\" is not a number"},
		{in: "30:1e-3,20:1e-4", wantErr: "the ends must increase"},
		{in: "0:1e-3", wantErr: "the ends must increase"},
		{in: "30:0", wantErr: "must be positive"},
		{in: "30:-1e-3", wantErr: "must be positive"},
		{in: "30:inf", wantErr: "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSchedule(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSchedule(%q) error %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("ParseSchedule(%q) (-want +got):\n%s", tt.in, d)
			}
			back, err := ParseSchedule(got.String())
			if err != nil || !cmp.Equal(back, got) {
				t.Errorf("String %q does not parse back: %+v, %v", got.String(), back, err)
			}
		})
	}
}

func TestScheduleRate(t *testing.T) {
	steps := Schedule{Steps: []Step{{2, 1e-2}, {4, 1e-3}}}
	cos := Schedule{Cosine: true}
	tests := []struct {
		s     Schedule
		epoch int
		want  float64
	}{
		{Schedule{}, 1, 0.5}, {Schedule{}, 7, 0.5},
		{steps, 1, 1e-2}, {steps, 2, 1e-2}, {steps, 3, 1e-3}, {steps, 4, 1e-3},
		{cos, 1, 0.5}, {cos, 3, 0.25}, {cos, 5, 0.5 * (1 + math.Cos(math.Pi*4/4)) / 2},
	}
	for _, tt := range tests {
		if got := tt.s.Rate(tt.epoch, 4, 0.5); math.Abs(got-tt.want) > 1e-15 {
			t.Errorf("%q.Rate(%d, 4, 0.5) = %v, want %v", tt.s.String(), tt.epoch, got, tt.want)
		}
	}
	if err := steps.check(5); err == nil || !strings.Contains(err.Error(), "end at epoch 4, but the run has 5 epochs") {
		t.Errorf("steps ending at 4 in a 5-epoch run: %v", err)
	}
}

// scheduleRun trains f's student with an online teacher, jitter and dropout (so that the rng is
// drawn from at every step) and returns the checkpoint.
func scheduleRun(t *testing.T, f *synth.Fixture, out string, set func(o *testOpts)) *student.Checkpoint {
	t.Helper()
	o := opts(f, out)
	o.Jitter = 1
	o.Teacher = &synth.RowTeacher{C: synth.Classes, Gain: 8}
	set(&o)
	if _, err := o.train(context.Background(), nil); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	ck, err := student.LoadCheckpoint(o.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

// sameRun reports where two checkpoints differ in weights, optimiser state or rng state.
func sameRun(t *testing.T, what string, want, got *student.Checkpoint) {
	t.Helper()
	if want.Epoch != got.Epoch {
		t.Errorf("%s: epoch %d, want %d", what, got.Epoch, want.Epoch)
	}
	if d := cmp.Diff(want.Params, got.Params); d != "" {
		t.Errorf("%s: weights differ:\n%s", what, d)
	}
	if d := cmp.Diff(want.Optimizer, got.Optimizer); d != "" {
		t.Errorf("%s: optimizer state differs:\n%s", what, d)
	}
	if d := cmp.Diff(want.RNG, got.RNG); d != "" {
		t.Errorf("%s: rng state differs:\n%s", what, d)
	}
}

// TestScheduleEqualsStages: a step schedule in one run gives bit for bit the weights of the
// same run in two stages (3 epochs at a constant 1e-2, then resumed to 5 with the schedule that
// extends it, 4 and 5 at 1e-3), and a run interrupted mid-schedule and resumed continues it
// exactly. A resume with a constant 1e-3 instead would have described epochs 1-3 with a rate they
// did not have, and is refused (TestResumeSettings).
func TestScheduleEqualsStages(t *testing.T) {
	f := synth.NewFixture(t, 200, 0.2)
	sched, err := ParseSchedule("3:1e-2,5:1e-3")
	if err != nil {
		t.Fatal(err)
	}
	one := scheduleRun(t, f, "schedule.ckpt", func(o *testOpts) { o.Epochs, o.Schedule = 5, sched })
	scheduleRun(t, f, "stages.ckpt", func(o *testOpts) { o.Epochs, o.LR = 3, 1e-2 })
	stages := scheduleRun(t, f, "stages.ckpt", func(o *testOpts) { o.Epochs, o.Schedule, o.Resume = 5, sched, true })
	sameRun(t, "schedule vs two stages", stages, one)
	if lr := one.OptimizerHyper["lr"]; lr != 1e-3 {
		t.Errorf("optimizer lr after the schedule %v, want 1e-3", lr)
	}

	// Three stages as models/README.md describes the shipped MNIST teacher's (a constant rate,
	// then each stage resumed with the schedule so far extended by one step) give the weights of
	// the one schedule, as scripts/train-teacher.sh runs it.
	three, err := ParseSchedule("2:1e-2,4:1e-3,5:1e-4")
	if err != nil {
		t.Fatal(err)
	}
	whole := scheduleRun(t, f, "whole.ckpt", func(o *testOpts) { o.Epochs, o.Schedule = 5, three })
	scheduleRun(t, f, "three.ckpt", func(o *testOpts) { o.Epochs, o.LR = 2, 1e-2 })
	scheduleRun(t, f, "three.ckpt", func(o *testOpts) {
		o.Epochs, o.Schedule, o.Resume = 4, Schedule{Steps: three.Steps[:2]}, true
	})
	staged := scheduleRun(t, f, "three.ckpt", func(o *testOpts) { o.Epochs, o.Schedule, o.Resume = 5, three, true })
	sameRun(t, "schedule vs three stages", whole, staged)

	// Interrupted at the end of epoch 2 (a hook cancels; epoch 3 then stops at once), resumed.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := opts(f, "interrupted.ckpt")
	o.Jitter, o.Epochs, o.Schedule = 1, 5, sched
	o.Teacher = &synth.RowTeacher{C: synth.Classes, Gain: 8}
	o.Hooks = []Hook{{Name: "interrupt", OnEpochEnd: func(_ *Loop, m *EpochMetrics) error {
		if m.Epoch == 2 {
			cancel()
		}
		return nil
	}}}
	if _, err := o.train(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want context.Canceled", err)
	}
	resumed := scheduleRun(t, f, "interrupted.ckpt", func(o *testOpts) { o.Epochs, o.Schedule, o.Resume = 5, sched, true })
	sameRun(t, "schedule interrupted after epoch 2 and resumed", one, resumed)

	// A cosine schedule changes the rate every epoch: it is not the constant run.
	cosine := scheduleRun(t, f, "cosine.ckpt", func(o *testOpts) { o.Epochs, o.LR, o.Schedule = 5, 1e-2, Schedule{Cosine: true} })
	constant := scheduleRun(t, f, "constant.ckpt", func(o *testOpts) { o.Epochs, o.LR = 5, 1e-2 })
	if cmp.Equal(cosine.Params, constant.Params) {
		t.Error("the cosine schedule gave the weights of a constant rate")
	}
}

// TestHooks checks the order hooks run in and that a hook's error stops training.
func TestHooks(t *testing.T) {
	f := synth.NewFixture(t, 64, 0)
	var calls []string
	o := opts(f, "hooks.ckpt")
	o.Epochs, o.Batch = 2, 32
	o.Hooks = []Hook{{
		Name:         "recorder",
		OnStart:      func(l *Loop) error { calls = append(calls, "start"); return nil },
		OnEpochStart: func(l *Loop, e int) error { calls = append(calls, "epoch"); return nil },
		OnStep: func(l *Loop, s StepInfo) error {
			if s.Samples != 32 || s.Seen%32 != 0 || l.LR() != o.LR {
				t.Errorf("step %+v at lr %v", s, l.LR())
			}
			calls = append(calls, "step")
			return nil
		},
		OnEpochEnd: func(l *Loop, m *EpochMetrics) error {
			if m.EvalAccuracy != nil {
				t.Error("the caller's hook ran after evaluation")
			}
			calls = append(calls, "end of epoch")
			return nil
		},
		OnEnd: func(l *Loop) error { calls = append(calls, "end"); return nil },
	}}
	if _, err := o.train(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"start", "epoch", "step", "step", "end of epoch", "epoch", "step", "step", "end of epoch", "end"}
	if d := cmp.Diff(want, calls); d != "" {
		t.Errorf("hook calls (-want +got):\n%s", d)
	}

	o = opts(f, "failing.ckpt")
	o.Hooks = []Hook{{Name: "failing", OnEpochEnd: func(*Loop, *EpochMetrics) error { return errors.New("disk full") }}}
	if _, err := o.train(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "epoch 1: failing: disk full") {
		t.Errorf("failing hook: %v", err)
	}
}
