// Package outputs guards the files a command writes before any work starts, so that nothing
// already on disk is lost by mistake: one rule for every command.
//
// A command describes what it reads and writes in a [Plan] and calls [Claim], which
//
//   - resolves every path (absolute, symlinks followed; for an output that does not exist yet,
//     its folder's symlinks), and compares files also by identity (hard links), so that "./x",
//     "dir/../x" and a symlink to x all name x;
//   - refuses an output that names an input or another output of the same command, naming both
//     flags;
//   - refuses an output that is a directory (or a folder output that is a file), one whose folder
//     does not exist, and one whose folder cannot be written (the lock file below is the probe);
//   - takes an exclusive lock on each output for the life of the command: an flock(2) on the
//     file "<output>.lock" beside it (for a folder output, ".distill.lock" inside it), holding the
//     pid of its owner, so that a second run on the same output is refused at once, naming the
//     first run's pid. The kernel drops the lock when its owner exits, however it exits, so a
//     lock file left by a killed run never blocks; [Lock.Release] removes the file. A file
//     output in a folder another run holds (a train into a running sweep's folder), and a file
//     a folder output will hold that another run is writing, are refused the same way;
//   - refuses an existing output unless Plan.Overwrite (--overwrite) is set, or the output is
//     one the command continues rather than replaces (train --resume's checkpoint, a sweep's
//     folder).
//
// The lock is advisory: it protects distill runs from each other, not from other programs.
package outputs
