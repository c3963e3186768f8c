// Package sweep trains one student per (temperature, alpha) pair of a grid from one offline
// soft-target file (see [Sweep]): the logits serve every temperature, so the grid costs only the
// students' training.
package sweep
