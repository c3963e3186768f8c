// Package dataset reads transfer, training and test sets and maps their raw values to a model's
// input.
//
// [Open] reads the data set a [Source] describes into memory, as raw float32 values with the
// sha256 of each file as stored and the element type as stored ([Dataset.DType]); [Load] is
// Open of a data file and a labels file. The formats:
//
//   - IDX (MNIST's format), raw or gzip-compressed: any IDX element type.
//   - NPY (numpy.save, format 1 or 2, either byte order, C order): uint8, int8, int16, int32,
//     int64, float16 (decoded to float32), float32, float64.
//   - NPZ (numpy.savez and savez_compressed: a zip of NPY members, stored or deflated): "f.npz"
//     when it holds one array, else "f.npz:<key>", the key being the member's name without
//     ".npy". An archive of several arrays without a key, or a key it lacks, is an error that
//     lists its keys. The sha256 is that of the whole archive.
//   - CSV (RFC 4180, read with encoding/csv: quoted fields, CRLF line ends and a UTF-8
//     byte-order mark work; gzip-compressed too): a table whose rows are samples of shape [F],
//     every feature value a finite number, stored as "float64". The first line names the
//     columns ([HeaderNames]), or is scikit-learn's "<n_samples>,<n_features>,<class names>"
//     ([HeaderSklearn]), or there is none and columns are named "0", "1", ... ([HeaderNone]).
//     The label column is [Source.LabelColumn], "label" by default when the header has it; its
//     values are all non-negative integers, or all names, mapped in sorted order to classes
//     0..K-1 and kept as [Dataset.ClassNames]. The features are [Source.FeatureColumns], every
//     other column by default. A header that is clearly a row of numbers or scikit-learn's form
//     read as names is an error that says which form to use.
//   - Image folders (torchvision's ImageFolder layout): a directory whose folders are the
//     classes, sorted by name (class k is the k-th, [Dataset.ClassNames] their names), each
//     holding the PNG and JPEG files (.png, .jpg, .jpeg, in any case) of its class. Samples are
//     ordered by class, then by file name. A flat folder, one that holds PNG and JPEG files and
//     no folders, is a set of unlabelled images ordered by file name (what a deployed model is
//     run on): [Dataset.Labels] and [Dataset.ClassNames] are nil. Every image folder's samples
//     are named, in [Dataset.SampleNames], by their path in it. Names starting with '.' are
//     skipped; other entries (other files, folders inside a class folder, files beside the class
//     folders) are skipped too, counted in one warning. A folder with neither images nor class
//     folders, or a class folder without images, is an error that names it. A file is decoded as
//     what its first bytes say (PNG or JPEG, with image/png and image/jpeg), on all cores; of the
//     files that are not images or are damaged, the error names the first in sample order.
//     Samples are [1, h, w] for [ColorGray] and [3, h, w] (channel-major) for [ColorRGB], values
//     0..255 stored as "uint8": the straight red, green and blue with alpha dropped, not
//     composited (Pillow's convert("RGB"), which torchvision's loader calls), gray as their
//     BT.601 luma (Pillow's convert("L")), 16-bit channels cut to their high byte. [Source.Color]
//     "" picks gray when the first image is grayscale (gray, gray with alpha, or paletted with
//     gray colours only), else rgb. Every image must have the size of the first one, unless
//     [Source.ImageSize] is set: then an image of another size is resized to it with
//     golang.org/x/image/draw's CatmullRom (a bicubic kernel widened when shrinking, so it does
//     not alias, as Pillow's resize does not). [Dataset.SHA256] is the sha256 of the lines "<hex
//     sha256 of the file><two spaces><class folder>/<file>\n" (or "<file>" in a flat folder) of
//     the images in sample order (what sha256sum prints for them): it changes when a file's bytes
//     or name change, or a file comes or goes; skipped entries do not count, and neither do
//     ImageSize and Color, which change the values but not the files (they show in
//     [Dataset.Shape]). An image over 1<<26 pixels (8192x8192) is an error, so that a damaged
//     header cannot make the reader allocate gigabytes.
//
// How a file is told apart: a directory is an image folder; CSV by its name alone (ending in
// ".csv" or ".csv.gz", in any case: [IsCSV]); every other file by its first bytes: "\x93NUMPY"
// NPY, "PK\x03\x04" (or the "PK\x05\x06" of an empty archive) NPZ, 1f 8b gzip (then NPY or
// IDX inside), two zero bytes IDX. A path "f.npz:<key>" that does not exist as a file, but
// whose part before the last ':' does, is that file and key; a file whose name holds a ':' is
// still read as itself.
//
// Labels files (IDX, NPY, NPZ[:<key>]) hold one non-negative integer per sample, shape [N] or
// [N,1]. A CSV's labels are one of its columns, and an image folder's are its class folders, so
// a labels file with either is an error.
//
// Every malformed file gives an error that names it and what is wrong (for CSV the line and the
// column) and wraps [ErrBadData]; a Source whose fields do not fit together wraps
// [ErrBadSource]. No input makes a reader panic: each reader has a fuzz target with its seed
// corpus under testdata/fuzz/.
//
// A [Preprocess] (scale, per-channel mean and std, the model's input shape) maps raw values to a
// model's input; [Dataset.DefaultScale] is the scale to use when none is given (255 for 8-bit
// pixels, 1 otherwise). A Preprocess is stored as JSON with every artefact, so that soft
// targets, training, evaluation and the exported model agree. In an ensemble each teacher has
// its own, given as options of --teacher (see [ParseTeacherSpec]). [Jitter] shifts images by
// whole pixels in raw space, before preprocessing.
package dataset
