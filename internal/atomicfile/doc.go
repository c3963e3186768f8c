// Package atomicfile writes small files whole or not at all: the data goes to a temporary file
// in the destination's directory, is synced, and is renamed over the destination, so a reader
// (or a crash, or a full disk) never sees a half-written file under the final name.
//
// Large streamed files (soft targets, checkpoints) use internal/safetensors' Writer instead;
// this package serves the files that are built in memory first: exported ONNX models, metrics
// and plots.
package atomicfile
