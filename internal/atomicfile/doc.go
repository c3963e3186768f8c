// Package atomicfile writes files whole or not at all: the data goes to a temporary file
// "<path>.tmp-<pid>" in the destination's directory, is synced, and is renamed over the
// destination, so a reader (or a crash, or a full disk) never sees a half-written file under the
// final name.
//
// [Create] returns a [File] to stream into (Write, WriteAt, Seek) and to read back under
// [File.TempPath] before [File.Commit] puts it in place; [File.Abort] throws it away.
// [WriteFile] does the three steps for data built in memory (exported ONNX models, metrics and
// plots). internal/safetensors' Writer streams soft targets and checkpoints through a File.
//
// A writer killed before Commit or Abort leaves its temporary file behind; it is never read under
// the final name, and the next Create for the same path removes it once no process has its pid.
package atomicfile
