package atomicfile

import (
	"os"
	"path/filepath"
)

// Perm is the permission of the files WriteFile creates (before the umask): readable by all,
// as os.WriteFile's callers usually ask, rather than os.CreateTemp's 0600.
const Perm = 0o644

// WriteFile writes data to a temporary file ".<name>.tmp-*" beside path, syncs it, gives it Perm
// and renames it over path. On any error the temporary file is removed and path is left as it
// was. The error is returned as the os package made it (it names the file); callers wrap it
// with what they were writing.
func WriteFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, Perm)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
