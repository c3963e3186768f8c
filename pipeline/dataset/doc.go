// Package dataset reads transfer, training and test sets and maps their raw values to a model's
// input.
//
// [Load] reads IDX (MNIST's format, raw or gzip) or NPY files, told apart by content, into memory
// as raw float32 values with the sha256 of each file as stored. Every bad file gives an error that
// names it and wraps [ErrBadData]; no input makes a reader panic (each has a fuzz target).
//
// A [Preprocess] (scale, per-channel mean and std, the model's input shape) maps raw values to a
// model's input. It is stored as JSON with every artefact, so that soft targets, training,
// evaluation and the exported model agree. In an ensemble each teacher has its own, given as
// options of --teacher (see [ParseTeacherSpec]). [Jitter] shifts images by whole pixels in raw
// space, before preprocessing.
package dataset
