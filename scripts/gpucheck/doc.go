// Command gpucheck checks onnxruntime's CUDA execution provider through package onnx, as
// scripts/gpu-check.sh runs it on the GPU machine (which has no Go: scripts/gpu-stage.sh builds it).
//
//	gpucheck -lib <libonnxruntime.so> -teacher models/mnist-teacher.onnx -images <t10k-images-idx3-ubyte.gz>
//
// For the MNIST teacher (784-1200-1200-10) and a CNN it builds with Conv, Concat, Slice and Pad
// (convNet), it opens one session on CPU and one on CUDA with CPU fallback disabled (so Open fails
// if any node would not run on the GPU), compares their logits on the MNIST test images (max
// |cpu - cuda| within 1e-2 of the logit scale, argmax agreement at least 99.9%), and times passes
// of 60,000 samples after a warm-up on every batch shape (median of 5 per device; batches of 1024
// on CPU and 8192 on CUDA). It asks nvidia-smi whether it lists the process. Its last line is
//
//	VERDICT PASS|FAIL maxdiff=<max over both models> agree=<min over both> cpu=<MLP>/s cuda=<MLP>/s ratio=<cuda/cpu>
//
// PASS when both models agree within the bounds on the GPU; the throughput ratios are reported,
// not held to a bound. It exits 1 on FAIL.
package main
