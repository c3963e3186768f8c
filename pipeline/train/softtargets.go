package train

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/distillgo/distill/pipeline/dataset"
	"github.com/distillgo/distill/pipeline/eval"
	"github.com/distillgo/distill/pipeline/provenance"
	"github.com/distillgo/distill/pipeline/targets"
	"github.com/distillgo/distill/student"
)

// loadSoftTargets reads an offline soft-target file and checks it against the data and the spec.
func (t *trainer) loadSoftTargets() error {
	o := &t.opts
	st, err := targets.Open(o.SoftTargets)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	defer st.Close()
	if err := st.CheckData(t.data); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := st.CheckClasses(t.spec.Classes); err != nil {
		return fmt.Errorf("train: %w (student spec %s)", err, o.Spec)
	}
	logits, err := st.Logits()
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := student.CheckTeacher(logits, st.K, st.N, st.Classes, 0); err != nil {
		return fmt.Errorf("train: soft targets %s: %w", o.SoftTargets, err)
	}
	sum, err := dataset.FileSHA256(o.SoftTargets)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	t.soft, t.k, t.softNames = logits, st.K, st.Meta.ClassNames
	t.prov.Mode = provenance.ModeOffline
	t.prov.SoftTargets, t.prov.SoftTargetsSHA256 = o.SoftTargets, sum
	if st.TeachersJSON != "" {
		t.prov.Teachers = json.RawMessage(st.TeachersJSON)
	}
	slog.Info("offline soft targets", "path", o.SoftTargets, "teachers", st.K, "n", st.N, "classes", st.Classes)
	return nil
}

// reportSoftTargets prints each offline teacher's accuracy on the transfer set, a first
// diagnostic when distillation disappoints; it needs the labels numbered as the soft targets are.
func (t *trainer) reportSoftTargets() {
	if t.soft == nil || t.labels == nil {
		return
	}
	n, c := t.data.N, t.spec.Classes
	size := n * c
	for j := range t.k {
		if m, err := eval.Classify(t.soft[j*size:(j+1)*size], n, c, t.labels); err == nil {
			fmt.Fprintf(t.out, "teacher %d of %d on the transfer set: accuracy %.2f%% (%d errors)\n", j+1, t.k, 100*m.Accuracy, m.Errors)
		}
	}
}
