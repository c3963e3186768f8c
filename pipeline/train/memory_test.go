package train

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/distillgo/distill/pipeline/internal/synth"
	"github.com/distillgo/distill/student"
)

// TestBatchAboveData: a batch far above the data (--batch 1000000000) trains as one batch of all
// the samples, exactly as a batch of their number does, instead of sizing buffers by the flag.
func TestBatchAboveData(t *testing.T) {
	f := synth.NewFixture(t, 200, 0.2)
	var cks [2]*student.Checkpoint
	for i, batch := range []int{200, 1 << 40} {
		o := opts(f, []string{"n.ckpt", "huge.ckpt"}[i])
		o.Epochs, o.Batch = 2, batch
		o.Teacher = &synth.RowTeacher{C: synth.Classes, Gain: 8}
		if _, err := o.train(context.Background(), nil); err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		ck, err := student.LoadCheckpoint(o.Checkpoint)
		if err != nil {
			t.Fatal(err)
		}
		cks[i] = ck
	}
	sameRun(t, "batch 2^40 against batch 200", cks[0], cks[1])
}

// TestCheckMemory: a batch whose activations cannot fit in the available memory is refused
// before training, naming the batch and giving the figures; where the available memory cannot be
// read nothing is refused.
func TestCheckMemory(t *testing.T) {
	f := synth.NewFixture(t, 200, 0.2)
	old := memAvailable
	t.Cleanup(func() { memAvailable = old })
	for _, tc := range []struct {
		name  string
		avail int64
		ok    bool
		want  string // "" when the run trains
	}{
		{"too little", 1 << 10, true, "a batch of 32 samples of"},
		{"enough", 1 << 30, true, ""},
		{"unknown", 0, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			memAvailable = func() (int64, bool) { return tc.avail, tc.ok }
			o := opts(f, tc.name+".ckpt")
			o.Epochs = 1
			_, err := o.train(context.Background(), nil)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var oe *OptionError
			if !errors.As(err, &oe) || oe.Option != "Batch" {
				t.Fatalf("error %v, want an option error on Batch", err)
			}
			for _, w := range []string{tc.want, "needs at least", "activation values per sample", "but only 0.0 GiB is available", "lower the batch"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseMemAvailable(t *testing.T) {
	for _, tc := range []struct {
		name, meminfo string
		want          int64
		ok            bool
	}{
		{"linux", "MemTotal:       24000000 kB\nMemFree:        20000000 kB\nMemAvailable:   23339636 kB\n", 23339636 * 1024, true},
		{"absent", "MemTotal:       24000000 kB\n", 0, false},
		{"garbled", "MemAvailable:   lots kB\n", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseMemAvailable([]byte(tc.meminfo))
			if got != tc.want || ok != tc.ok {
				t.Errorf("got %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseAddressLimit(t *testing.T) {
	for _, tc := range []struct {
		name, limits string
		want         int64
		ok           bool
	}{
		{"limited", "Max stack size            8388608              unlimited            bytes\nMax address space         6144000000           unlimited            bytes\n", 6144000000, true},
		{"unlimited", "Max address space         unlimited            unlimited            bytes\n", 0, false},
		{"absent", "Max stack size            8388608              unlimited            bytes\n", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseAddressLimit([]byte(tc.limits))
			if got != tc.want || ok != tc.ok {
				t.Errorf("got %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestStatField(t *testing.T) {
	stat := []byte("anon 1000\nfile 5000\ninactive_file 4096\nactive_file 904\n")
	if got := statField(stat, "inactive_file"); got != 4096 {
		t.Errorf("inactive_file: %d, want 4096", got)
	}
	if got := statField(stat, "shmem"); got != 0 {
		t.Errorf("absent field: %d, want 0", got)
	}
}
