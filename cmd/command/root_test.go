package command

import (
	"strings"
	"testing"
)

// TestChoiceErrors checks that a bad value of a flag with fixed choices is a usage error that
// lists the choices, in the same words for every command.
func TestChoiceErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"targets device", []string{"targets", "--teacher", "t.onnx", "--data", "d", "--out", "o", "--device", "tpu"}, `--device "tpu": want cpu, cuda or auto`},
		{"targets output", []string{"targets", "--teacher", "t.onnx", "--data", "d", "--out", "o", "--output", "soft"}, `--output "soft": want auto, logits, probs or logprobs`},
		{"train device", []string{"train", "--model", "m", "--data", "d", "--out", "o", "--device", "tpu"}, `--device "tpu": want cpu, cuda or auto`},
		{"train blas", []string{"train", "--model", "m", "--data", "d", "--out", "o", "--blas", "mkl"}, `--blas "mkl": want auto, openblas or go`},
		{"train loss", []string{"train", "--model", "m", "--data", "d", "--out", "o", "--loss", "l1"}, `--loss "l1": want kl or mse`},
		{"eval device", []string{"eval", "--model", "m", "--data", "d", "--labels", "l", "--device", "tpu"}, `--device "tpu": want cpu, cuda or auto`},
		{"eval blas", []string{"eval", "--model", "m", "--data", "d", "--labels", "l", "--blas", "mkl"}, `--blas "mkl": want auto, openblas or go`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runMain(t, tt.args...)
			if code != ExitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q: want %d and %q", code, stderr, ExitUsage, tt.want)
			}
		})
	}
}
