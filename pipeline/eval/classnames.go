package eval

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/internal/model"
	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/pipeline/dataset"
)

// alignLabels numbers data's labels as the model numbers its classes, or the teacher when only
// it names them (see [dataset.Dataset.AlignTo]), before the model is scored on them.
func alignLabels(opts Options, data *dataset.Dataset, classes int, res *Result) error {
	sources := []dataset.ModelClasses{{Of: "model " + opts.Model, N: classes, Names: res.modelNames}}
	if opts.TeacherPath != "" {
		sources = append(sources, dataset.ModelClasses{Of: "teacher " + opts.TeacherPath, N: classes, Names: res.teacherNames})
	}
	note, err := data.AlignTo(classes, sources...)
	if err != nil {
		return err
	}
	if note != "" {
		slog.Info(note)
	}
	return nil
}

// RecordedClassNames returns the class names a model's metadata md records, nil for none: an
// exported model's meta.ClassNames, else the class names of its provenance (a checkpoint's).
// Unreadable names are an error, not none, since numbering by position could then be wrong.
func RecordedClassNames(md map[string]string) ([]string, error) {
	var names []string
	if raw, ok := md[meta.ClassNames]; ok {
		if err := json.Unmarshal([]byte(raw), &names); err != nil {
			return nil, fmt.Errorf("class names metadata %s: %w", meta.ClassNames, err)
		}
		return names, nil
	}
	if raw, ok := md[meta.Provenance]; ok {
		var p struct {
			ClassNames []string `json:"class_names"`
		}
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			return nil, fmt.Errorf("provenance metadata %s: %w", meta.Provenance, err)
		}
		return p.ClassNames, nil
	}
	return nil, nil
}

// TeacherClassNames returns the names a teacher model gives its classes, nil for none: those
// its ONNX file at path records (an export by distill; read from an onnxruntime session's
// metadata when t is one, else from the file), else its own class labels (a scikit-learn
// ZipMap's keys). path may be empty (a teacher with no file).
func TeacherClassNames(path string, t model.Teacher) ([]string, error) {
	if s, ok := t.(interface {
		Info() *onnx.ModelInfo
		Describe() model.Description
	}); ok && s.Info() != nil {
		// An onnxruntime session holds the metadata it read: no second read of the file.
		names, err := RecordedClassNames(s.Info().Metadata)
		if err != nil {
			return nil, fmt.Errorf("teacher %s: %w", path, err)
		}
		if names != nil {
			return names, nil
		}
		return s.Describe().ClassLabels, nil
	}
	if path != "" {
		if kind, err := ModelKind(path); err == nil && kind == KindONNX {
			// The runtime opened the file already; one it reads and this parser does not is a
			// model without distill's metadata.
			if info, err := onnx.ReadModelInfo(path); err == nil {
				names, err := RecordedClassNames(info.Metadata)
				if err != nil || names != nil {
					if err != nil {
						err = fmt.Errorf("teacher %s: %w", path, err)
					}
					return names, err
				}
			} else {
				slog.Debug("teacher class names: metadata unreadable", "teacher", path, "err", err)
			}
		}
	}
	if m, ok := t.(model.Model); ok {
		return m.Describe().ClassLabels, nil
	}
	return nil, nil
}
