package train

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/distillgo/distill/internal/option"
	"github.com/distillgo/distill/pipeline/internal/synth"
)

// TestTrainLogitLosses trains on offline soft targets with DKD and standardised logits, and checks
// that the students learn and that the checkpoint's provenance records the loss.
func TestTrainLogitLosses(t *testing.T) {
	f := synth.NewFixture(t, 300, 0)
	soft := filepath.Join(f.Dir, "soft.safetensors")
	synth.WriteSoftTargets(t, soft, f.Data, 1, synth.Classes)
	tests := []struct {
		name string
		loss string
		std  bool
	}{
		{"dkd", "dkd", false},
		{"standardised kl", "kl", true},
		{"standardised dkd", "dkd", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts(f, strings.ReplaceAll(tt.name, " ", "-")+".ckpt")
			o.SoftTargets, o.Temperature, o.Alpha = soft, 4, 0.5
			o.Loss, o.StandardizeLogits, o.DKDWarmup = tt.loss, tt.std, 2
			var out strings.Builder
			res, err := o.train(context.Background(), &out)
			if err != nil {
				t.Fatal(err)
			}
			if acc := lastAccuracy(t, res); acc < 0.9 {
				t.Errorf("eval accuracy %.3f, want >= 0.9\n%s", acc, out.String())
			}
			_, prov := loadProvenance(t, o.Checkpoint)
			if prov.Loss != tt.loss || prov.StandardizeLogits != tt.std {
				t.Errorf("provenance loss %q standardised %v, want %q %v", prov.Loss, prov.StandardizeLogits, tt.loss, tt.std)
			}
			if dkd := tt.loss == "dkd"; dkd != (prov.DKDAlpha != nil && *prov.DKDAlpha == 1 && prov.DKDBeta != nil && *prov.DKDBeta == 8 && prov.DKDWarmup == 2) {
				t.Errorf("provenance DKD weights %v %v warm-up %d, want 1, 8 and 2 for dkd only", prov.DKDAlpha, prov.DKDBeta, prov.DKDWarmup)
			}
		})
	}
}

// TestDKDWarmup checks the weights the warm-up hook gives DKD at each epoch, min(e/4, 1) times
// the options', through a resume in the middle.
func TestDKDWarmup(t *testing.T) {
	f := synth.NewFixture(t, 60, 0)
	soft := filepath.Join(f.Dir, "soft.safetensors")
	synth.WriteSoftTargets(t, soft, f.Data, 1, synth.Classes)
	var got [][2]float64
	watch := Hook{Name: "watch", OnEpochStart: func(l *Loop, epoch int) error {
		got = append(got, [2]float64{l.t.loss.DKDAlpha, l.t.loss.DKDBeta})
		return nil
	}}
	o := opts(f, "warmup.ckpt")
	o.SoftTargets, o.Loss, o.DKDAlpha, o.DKDBeta, o.DKDWarmup = soft, "dkd", 2, 6, 4
	o.Epochs, o.Hooks = 3, []Hook{watch}
	if _, err := o.train(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	o.Epochs, o.Resume = 6, true
	if _, err := o.train(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	want := [][2]float64{{0.5, 1.5}, {1, 3}, {1.5, 4.5}, {2, 6}, {2, 6}, {2, 6}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("DKD weights per epoch (-want +got):\n%s", d)
	}
}

// TestDKDNeedsLabels checks that DKD on soft targets without labels is an error naming the loss.
func TestDKDNeedsLabels(t *testing.T) {
	f := synth.NewFixture(t, 60, 0)
	soft := filepath.Join(f.Dir, "soft.safetensors")
	synth.WriteSoftTargets(t, soft, f.Data, 1, synth.Classes)
	o := opts(f, "nolabels.ckpt")
	o.SoftTargets, o.Labels, o.Loss = soft, "", "dkd"
	_, err := o.train(context.Background(), nil)
	var oe *option.Error
	if !errors.As(err, &oe) || oe.Option != "Loss" || !strings.Contains(err.Error(), "labels") {
		t.Errorf("error %v: want an option error on Loss about labels", err)
	}
}
