// Package eval scores classifiers: the metrics of [Classify] (accuracy, mean NLL, expected
// calibration error, confusion matrix) and top-1 [Agreement], and [Eval] of a student checkpoint
// or any ONNX classifier ([ModelKind]) on a labelled data set, beside a teacher when given.
// [Predict] runs such a model over data with or without labels (a flat folder of images among
// them), with the preprocessing Eval would use, and returns each sample's most probable classes;
// [Predictions.Write] writes them as CSV or JSON Lines.
package eval
