// Command benchort is the baseline of scripts/bench-targets.sh. It has two subcommands:
//
//	benchort make-teacher -out teacher.onnx [-sizes 784,1200,1200,10] [-seed 1]
//	benchort run -model teacher.onnx -data train-images-idx3-ubyte.gz [-batch 1024] [-threads 0]
//
// make-teacher writes an MLP with random He-normal weights through onnx.Export (no Python
// needed). run is a bare onnxruntime session loop: it reads the IDX images, scales them by 1/255
// once, then feeds them through one onnxruntime session in batches, reusing one input and one
// output tensor per batch size, and prints the time of the loop alone. It imports
// onnxruntime_go directly on purpose, as the reference that `distill targets` is measured
// against; everything else in distill reaches onnxruntime only through package onnx.
package main
