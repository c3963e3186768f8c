// Package pipeline holds the steps of knowledge distillation (Hinton et al. 2015) between
// the teacher runtime (package onnx) and the student networks (package student): datasets,
// preprocessing, soft-target files, the training loop, evaluation and export.
//
// Data. [LoadDataset] reads a transfer, training or test set from IDX (MNIST's format, raw
// or gzip) or NPY files, told apart by content, into memory as raw float32 values with the
// sha256 of each file as stored. Every bad file gives an error that names it and wraps
// [ErrBadData]; no input makes a reader panic (each has a fuzz target).
//
// Preprocessing. A [Preprocess] (scale, per-channel mean and std, the model's input
// shape) maps raw values to a model's input. It is stored as JSON with every artefact, so
// that soft targets, training, evaluation and the exported model agree. In an ensemble
// each teacher has its own, given as options of --teacher (see [ParseTeacherSpec]).
// [Jitter] shifts images by whole pixels in raw space, before preprocessing.
//
// Soft targets. A soft-target file (see [CreateTargets], [OpenTargets], [MergeTargets])
// is a safetensors file with the teachers' logits, [N,C] for one teacher or [K,N,C] for K,
// never probabilities: the temperature is applied at training time, so one file serves
// any T. Its header records where the logits came from (each teacher's file sha256,
// tensor names, preprocessing and output kind; the data file's sha256 and sample count;
// the sample range; the class count; the tool version), and a file is refused for data
// or classes other than its own. Shards of contiguous sample ranges ([ShardRange]) merge
// into a file byte-identical to a single run. Files are written by streaming (memory does
// not grow with N) and atomically, and carry sha256 checksums of header and data.
//
// Training. [Train] trains a student on hard labels, offline soft targets or an online
// [Teacher] (see [TrainOptions]; the loss is student.Loss). The checkpoint, saved atomically
// after every epoch, records the student's preprocessing ([MetaPreprocess]) and a
// [Provenance] ([MetaProvenance]); a resumed run continues it exactly.
//
// Evaluation and export. [Eval] scores a checkpoint or any ONNX classifier ([ModelKind]) with
// the metrics of [Classify] and, given a teacher, top-1 [Agreement]. [ExportCheckpoint] writes
// a student as ONNX with its preprocessing, spec and provenance in the metadata, and checks
// the file under onnxruntime against the student's own forward pass ([VerifyExport]).
package pipeline
