// Command cmplogits compares the logits of two soft-target files, as scripts/gpu-check.sh does for
// the CPU and CUDA runs of `distill targets`.
//
//	go run ./scripts/cmplogits [-tol 0.01] A.safetensors B.safetensors
//
// It prints the shape, the largest and mean absolute difference, and how often the two agree on
// the arg-max class, and exits 1 when the largest difference exceeds tol times max(1, max |logit|).
package main
