package command

import (
	"strings"
	"testing"
)

// TestChoiceErrors checks that a bad value of a flag with fixed choices is a usage error that
// lists the choices, and that the shared onnxruntime flags are checked alike, in the same words
// for every command.
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
		{"train gpu id", []string{"train", "--model", "m", "--data", "d", "--out", "o", "--gpu-id", "-1"}, `--gpu-id -1: must not be negative`},
		{"eval threads", []string{"eval", "--model", "m", "--data", "d", "--labels", "l", "--threads", "-2"}, `--threads -2: must not be negative`},
		{"targets gpu id", []string{"targets", "--teacher", "t.onnx", "--data", "d", "--out", "o", "--gpu-id", "-1"}, `--gpu-id -1: must not be negative`},
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
