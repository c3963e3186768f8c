// Package train trains a student (package student) on hard labels, offline soft targets (package
// targets) or an online teacher run on every augmented batch, with the loss of Hinton et al.
// 2015 (student.Loss).
//
// [Options] say what to train on ([Inputs]), how ([Settings]) and where results go ([Output]),
// with [DefaultOptions] and one Validate. [Train] runs a [Loop] that only steps through the epochs
// and calls [Hook]s around the steps: the learning-rate [Schedule], evaluation, the checkpoint
// (saved atomically after every epoch, with the student's preprocessing and a provenance.Record),
// the report line, the metrics file ([WriteMetricsFile]) and the plot ([PlotCurves]) are hooks,
// and a caller adds its own (a [ProgressBar]). A resumed run continues a checkpoint exactly,
// schedule included.
package train
