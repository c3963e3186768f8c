// Package safetensors reads and writes the safetensors format
// (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON header, then the raw little-endian tensor data.
//
// The header is a JSON object. Its optional "__metadata__" entry maps strings to
// strings; every other entry names a tensor:
//
//	{"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}
//
// data_offsets are byte offsets relative to the start of the data section. Tensors
// must cover the data section exactly: sorted by offset they are contiguous, start
// at 0 and end at the end of the file.
//
// Rules kept by this package beyond the format:
//   - Writes are atomic: [Create] writes to "<path>.tmp-<pid>" in the same directory
//     (through internal/atomicfile, which also removes the temporary files of killed
//     writers), and [Writer.Commit] fsyncs and renames it onto path; [Writer.Abort]
//     removes it.
//   - Writes stream: the header goes first (all offsets are known up front) and
//     [Writer.WriteAt] puts data at any element offset, so memory does not grow with
//     the size of the file.
//   - Files carry checksums: Commit stores the hex sha256 of the data section under
//     the metadata key "data_sha256" and that of the header (with this value zeroed)
//     under "header_sha256". Both keys are reserved in the header at Create, so its
//     length never changes, and [Open] refuses a file whose data or header does not
//     match. Files without the keys (as written by other tools) are accepted unchecked.
//   - Output is deterministic: the same tensors, metadata and data give the same bytes.
//     Metadata keys are written sorted, tensors in the order given, and the header is
//     padded with spaces so that the data section starts at a multiple of 8 bytes.
//   - [Open] validates everything before it returns: header length against file size,
//     JSON syntax and duplicate keys, dtypes, shapes against offsets, coverage of the
//     data section and the checksum. Errors name the file and what is wrong.
package safetensors
