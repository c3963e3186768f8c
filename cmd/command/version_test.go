package command

import (
	"bytes"
	"testing"

	"github.com/distillgo/distill/internal/meta"
	"github.com/distillgo/distill/onnx"
)

// TestVersion checks that `distill --version` prints the version the files record: meta.Version,
// which is also the soft-target files' and exported models' tool (meta.ToolVersion) and an
// exported model's producer_version. faults.TestVersionStamped checks the same on a binary
// stamped as `make build` stamps it.
func TestVersion(t *testing.T) {
	for _, flag := range []string{"--version", "-v"} {
		t.Run(flag, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := Main([]string{"distill", flag}, &stdout, &stderr); code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if got, want := stdout.String(), "distill version "+meta.Version+"\n"; got != want {
				t.Errorf("printed %q, want %q", got, want)
			}
		})
	}
	if onnx.ProducerVersion != meta.Version {
		t.Errorf("exported models' producer_version %q, distill --version %q", onnx.ProducerVersion, meta.Version)
	}
	if want := "distill/" + meta.Version; meta.ToolVersion != want {
		t.Errorf("files' tool %q, want %q", meta.ToolVersion, want)
	}
}
