package dataset

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// isZip reports whether raw starts like a zip archive: a local file header ("PK\x03\x04"), or
// the end record an archive with no members starts with ("PK\x05\x06").
func isZip(raw []byte) bool {
	return bytes.HasPrefix(raw, []byte("PK\x03\x04")) || bytes.HasPrefix(raw, []byte("PK\x05\x06"))
}

// readNPZ decodes the array key of a NumPy .npz archive, or its only array when key is empty.
// numpy.savez and savez_compressed write a zip of "<key>.npy" members, stored or deflated;
// archive/zip reads both (and zip64, for members over 4 GiB) and checks each member's CRC-32.
// Keys are member names without ".npy", in archive order. file names the archive in messages.
func readNPZ(raw []byte, file, key string) (array, error) {
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // member names are keys, never paths here
		return array{}, fmt.Errorf("%w: npz: %v", ErrBadData, err)
	}
	keys := make([]string, len(zr.File))
	var pick *zip.File
	for i, f := range zr.File {
		keys[i] = strings.TrimSuffix(f.Name, ".npy")
		if key != "" && keys[i] == key && pick == nil {
			pick = f
		}
	}
	switch {
	case len(keys) == 0:
		return array{}, fmt.Errorf("%w: npz: the archive holds no arrays", ErrBadData)
	case key == "" && len(keys) > 1:
		return array{}, fmt.Errorf("%w: npz: the archive holds %d arrays (%s): write %s:<key> to pick one", ErrBadData, len(keys), quoteList(keys), file)
	case key == "":
		pick, key = zr.File[0], keys[0]
	case pick == nil:
		return array{}, fmt.Errorf("%w: npz: no array %q: the archive holds %s", ErrBadData, key, quoteList(keys))
	}
	b, err := readMember(pick)
	if err != nil {
		return array{}, fmt.Errorf("%w: npz: array %q: %v", ErrBadData, key, err)
	}
	if !bytes.HasPrefix(b, []byte("\x93NUMPY")) {
		return array{}, fmt.Errorf("%w: npz: array %q: member %q is not an NPY file", ErrBadData, key, pick.Name)
	}
	a, err := readNPY(b)
	if err != nil { // readNPY's errors start with ErrBadData's text; keep it in front
		return array{}, fmt.Errorf("%w: npz: array %q: %s", ErrBadData, key, strings.TrimPrefix(err.Error(), ErrBadData.Error()+": "))
	}
	return a, nil
}

// readMember returns the decompressed bytes of one archive member.
func readMember(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
