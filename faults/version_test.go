package faults

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stampedVersion is the version TestMain stamps into the binary in place of the VERSION file's,
// so that a version read back can only have come from the stamp.
const stampedVersion = "0.0.0-faults"

// makefileLDFLAGS returns the -ldflags of the Makefile's build (its LDFLAGS line) with $(VERSION)
// replaced by version, so the suite's binary is stamped as `make build` stamps it.
func makefileLDFLAGS(version string) (string, error) {
	mk, err := os.ReadFile(filepath.Join("..", "Makefile"))
	if err != nil {
		return "", fmt.Errorf("read the Makefile: %w", err)
	}
	for _, l := range strings.Split(string(mk), "\n") {
		if k, v, ok := strings.Cut(l, ":="); ok && strings.TrimSpace(k) == "LDFLAGS" {
			v = strings.TrimSpace(v)
			if !strings.Contains(v, "$(VERSION)") {
				return "", fmt.Errorf("the Makefile's LDFLAGS %q does not stamp $(VERSION)", v)
			}
			return strings.ReplaceAll(v, "$(VERSION)", version), nil
		}
	}
	return "", fmt.Errorf("the Makefile has no LDFLAGS := line")
}

// TestVersionStamped checks that the version `make build` stamps is the one `distill --version`
// prints and the one the files distill writes record: a soft-target file's tool, an exported
// model's producer_version and distill.tool. (A -X flag naming a variable that does not exist
// is ignored by the linker, so only a stamped binary shows the stamp works.)
func TestVersionStamped(t *testing.T) {
	e := newEnv(t, true)
	r := e.mustRun("--version")
	if got, want := strings.TrimSpace(r.stdout), "distill version "+stampedVersion; got != want {
		t.Errorf("distill --version printed %q, want %q", got, want)
	}

	data, labels := e.images("train", 60, 1)
	targets, ckpt, model := e.path("targets.safetensors"), e.path("student.ckpt"), e.path("student.onnx")
	e.mustRun("targets", "--teacher", e.teacher("teacher", 8, 5), "--data", data, "--out", targets)
	tool := "distill/" + stampedVersion
	if got := safetensorsMeta(t, targets)["tool"]; got != tool {
		t.Errorf("soft targets' tool = %q, want %q", got, tool)
	}
	e.mustRun("train", "--model", e.spec("student", 8), "--data", data, "--labels", labels, "--soft-targets", targets, "--epochs", "1", "--blas", "go", "--out", ckpt)
	e.mustRun("export", "--model", ckpt, "--out", model)

	var info struct {
		Producer        string            `json:"producer"`
		ProducerVersion string            `json:"producer_version"`
		Metadata        map[string]string `json:"metadata"`
	}
	r = e.mustRun("inspect", "--json", model)
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, r.stdout)
	}
	if info.Producer != "distill" || info.ProducerVersion != stampedVersion {
		t.Errorf("exported model's producer = %q %q, want distill %q", info.Producer, info.ProducerVersion, stampedVersion)
	}
	if got := info.Metadata["distill.tool"]; got != tool {
		t.Errorf("exported model's distill.tool = %q, want %q", got, tool)
	}
}

// safetensorsMeta returns the __metadata__ of the safetensors file at path.
func safetensorsMeta(t *testing.T, path string) map[string]string {
	t.Helper()
	b := readFile(t, path)
	if len(b) < 8 {
		t.Fatalf("%s: %d bytes", path, len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		t.Fatalf("%s: header of %d bytes in a file of %d", path, n, len(b))
	}
	var h struct {
		Meta map[string]string `json:"__metadata__"`
	}
	if err := json.Unmarshal(b[8:8+n], &h); err != nil {
		t.Fatalf("%s: header: %v", path, err)
	}
	return h.Meta
}
