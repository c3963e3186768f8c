// Package export turns students into ONNX models and back: [Graph] and [Student] write a network,
// [Import] and [ImportParams] read one written by this tool, [Verify] runs the file with a model
// runtime against the student's own forward pass, and [Checkpoint] exports a checkpoint with its
// preprocessing, spec and provenance in the model's metadata, verified before it is moved into
// place.
package export
