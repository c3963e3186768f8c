// Package faults holds the fault suite of distill: Go tests that build the real
// `distill` binary once and start it with os/exec to show that a kill, a full disk or a damaged
// file costs at most the work since the last checkpoint and never leaves a corrupt artefact that a
// later step trusts. The package has no code of its own; docs/faults.md tabulates what each test
// does and what the user sees. The tests need onnxruntime (see onnx/onnxtest.RequireLibrary).
package faults
