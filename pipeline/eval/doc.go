// Package eval scores classifiers: the metrics of [Classify] (accuracy, mean NLL, expected
// calibration error, confusion matrix) and top-1 [Agreement], and [Eval] of a student checkpoint
// or any ONNX classifier ([ModelKind]) on a labelled data set, beside a teacher when given.
package eval
