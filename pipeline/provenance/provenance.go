// Package provenance records how a student was trained: the [Record] stored as JSON in every
// checkpoint (and copied into the exported model) beside the student's preprocessing, and the
// functions that read both back.
package provenance

import (
	"encoding/json"
	"fmt"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/pipeline/dataset"
)

// Training modes recorded in Record.Mode.
const (
	ModeHard    = "hard"    // hard labels only (a teacher, or a baseline student)
	ModeOffline = "offline" // soft targets from a file
	ModeOnline  = "online"  // a teacher run on every (augmented) batch
)

// Record says how a checkpoint was trained; it is stored as JSON under meta.Provenance.
type Record struct {
	Mode              string              `json:"mode"`                          // ModeHard, ModeOffline or ModeOnline
	Data              string              `json:"data"`                          // training data file, as given
	DataSHA256        string              `json:"data_sha256"`                   // its sha256 as stored
	DataN             int                 `json:"data_n"`                        // its number of samples
	ExcludeClasses    []int               `json:"exclude_classes,omitempty"`     // classes dropped from the transfer set
	OnlyClasses       []int               `json:"only_classes,omitempty"`        // the only classes kept in it
	DataKept          int                 `json:"data_kept,omitempty"`           // samples trained on after the class filter
	ClassNames        []string            `json:"class_names,omitempty"`         // the data's class names, when it names them
	Labels            string              `json:"labels,omitempty"`              // labels file, if any
	LabelsSHA256      string              `json:"labels_sha256,omitempty"`       // its sha256
	Teacher           string              `json:"teacher,omitempty"`             // online teacher model, if any
	TeacherSHA256     string              `json:"teacher_sha256,omitempty"`      // its sha256
	TeacherPreprocess *dataset.Preprocess `json:"teacher_preprocess,omitempty"`  // its preprocessing
	TeacherInputs     []InputFile         `json:"teacher_inputs,omitempty"`      // the arrays that fed its named inputs
	SoftTargets       string              `json:"soft_targets,omitempty"`        // offline soft-target file, if any
	SoftTargetsSHA256 string              `json:"soft_targets_sha256,omitempty"` // its sha256
	Teachers          json.RawMessage     `json:"teachers,omitempty"`            // the soft-target file's teacher list
	Temperature       float64             `json:"temperature"`                   // the soft targets' temperature T
	Alpha             float64             `json:"alpha"`                         // the soft loss's weight
	Loss              string              `json:"loss"`                          // kl, mse or dkd
	DKDAlpha          *float64            `json:"dkd_alpha,omitempty"`           // dkd: the TCKD weight
	DKDBeta           *float64            `json:"dkd_beta,omitempty"`            // dkd: the NCKD weight
	DKDWarmup         int                 `json:"dkd_warmup,omitempty"`          // dkd: epochs of warm-up
	StandardizeLogits bool                `json:"standardize_logits,omitempty"`  // logits z-scored for the soft part
	Ensemble          string              `json:"ensemble,omitempty"`            // probs or logits
	Optimizer         string              `json:"optimizer"`                     // adam or sgd
	LR                float64             `json:"lr"`                            // the base learning rate
	Schedule          string              `json:"schedule,omitempty"`            // the learning-rate schedule, if not constant
	Momentum          float64             `json:"momentum,omitempty"`            // sgd's momentum
	Batch             int                 `json:"batch"`                         // mini-batch size
	Jitter            int                 `json:"jitter"`                        // pixels of jitter
	Augment           string              `json:"augment,omitempty"`             // the augmentation list, in order
	Hints             []string            `json:"hints,omitempty"`               // the feature-distillation terms, as --hint writes them
	Seed              uint64              `json:"seed"`                          // the run's seed
	Epochs            int                 `json:"epochs"`                        // epochs completed
	RunEpochs         int                 `json:"run_epochs,omitempty"`          // the epochs the run was set to reach (a cosine schedule anneals over them); absent before they were recorded
	EvalData          string              `json:"eval_data,omitempty"`           // evaluation data file, if any
	EvalAccuracy      *float64            `json:"eval_accuracy,omitempty"`       // accuracy on it after the last epoch
	InitFrom          string              `json:"init_from,omitempty"`           // ONNX student the weights started from
}

// InputFile records an array file that fed a named model input.
type InputFile struct {
	Name   string `json:"name"`   // the input's name
	Path   string `json:"path"`   // the file, as given
	SHA256 string `json:"sha256"` // its sha256 as stored
}

// TeacherSHA256s lists the sha256 of the teachers a run learnt from: the online teacher's, or
// those recorded in the offline soft-target file (empty entries left out); nil for hard labels.
// Export records them as meta.TeacherSHA256; a resumed run refuses other teachers.
func (r *Record) TeacherSHA256s() []string {
	var out []string
	if r.TeacherSHA256 != "" {
		out = append(out, r.TeacherSHA256)
	}
	if len(r.Teachers) > 0 {
		var list []struct {
			SHA256 string `json:"sha256"`
		}
		if err := json.Unmarshal(r.Teachers, &list); err == nil {
			for _, t := range list {
				if t.SHA256 != "" {
					out = append(out, t.SHA256)
				}
			}
		}
	}
	return out
}

// Read returns the preprocessing and the record stored in metadata md (a checkpoint's Meta or an
// exported model's metadata_props); each is nil when md holds none. Stored values that do not
// parse are errors naming the key.
func Read(md map[string]string) (*dataset.Preprocess, *Record, error) {
	var pre *dataset.Preprocess
	if raw, ok := md[meta.Preprocess]; ok {
		var p dataset.Preprocess
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			return nil, nil, fmt.Errorf("preprocessing metadata %q: %w", raw, err)
		}
		if err := p.Validate(); err != nil {
			return nil, nil, fmt.Errorf("preprocessing metadata %q: %w", raw, err)
		}
		pre = &p
	}
	var rec *Record
	if raw, ok := md[meta.Provenance]; ok {
		var r Record
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return nil, nil, fmt.Errorf("provenance metadata %q: %w", raw, err)
		}
		rec = &r
	}
	return pre, rec, nil
}

// Meta returns the checkpoint metadata that holds pre and r.
func Meta(pre dataset.Preprocess, r *Record) map[string]string {
	return map[string]string{meta.Preprocess: MustJSON(pre), meta.Provenance: MustJSON(r)}
}

// MustJSON returns v as JSON; v must be a value that always encodes (a struct of plain fields).
func MustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", v, err))
	}
	return string(b)
}
