// Package pipeline is the home of the steps of knowledge distillation (Hinton et al. 2015)
// between a teacher runtime (package onnx, behind internal/model) and the student networks
// (package student). It holds no code of its own; each step is a sub-package named for its noun:
//
//   - pipeline/dataset: data files (IDX, NPY, NPZ, CSV, image folders) read into memory,
//     preprocessing.
//   - pipeline/augment: the augmentations of training batches (flip, crop, jitter, erase, mixup,
//     cutmix).
//   - pipeline/teacher: a --teacher argument read and its model opened, one way for every command.
//   - pipeline/targets: the soft-target file format, its generation by teachers, shard merging.
//   - pipeline/train: the training loop and its hooks, options, schedules, resume, metrics files
//     and plots.
//   - pipeline/eval: classification metrics and the evaluation of checkpoints and ONNX models.
//   - pipeline/export: students to ONNX and back, verified against the student's forward pass.
//   - pipeline/provenance: the record of how a student was trained, stored with every artefact.
//   - pipeline/sweep: grids of temperatures and alphas over one soft-target file.
//
// Imports point one way: train uses augment, dataset, targets, eval, export and provenance; sweep
// uses train. No package here loads a model runtime: the caller passes a model.Runtime (which
// pipeline/teacher opens models with) or an open model.Teacher. docs/design.md is the map of the
// seams.
package pipeline
