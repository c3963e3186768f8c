// Package targets holds soft-target files: the teachers' logits for a transfer set.
//
// A soft-target file (see [Create], [Open], [Merge]) is a safetensors file with the teachers'
// logits, [N,C] for one teacher or [K,N,C] for K, never probabilities: the temperature is applied
// at training time, so one file serves any T. Its header records where the logits came from (each
// teacher's file sha256, tensor names, preprocessing and output kind; the data file's sha256 and
// sample count; the sample range; the class count; the tool version), and a file is refused for
// data or classes other than its own. Shards of contiguous sample ranges ([ShardRange]) merge into
// a file byte-identical to a single run. Files are written by streaming (memory does not grow with
// N) and atomically, and carry sha256 checksums of header and data. [Generate] runs teachers over
// a data set and writes their file.
package targets
