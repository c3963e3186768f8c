package atomicfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// roDirEnv names the read-only folder that TestCreateReadOnlyFS gives its child.
const roDirEnv = "ATOMICFILE_TEST_RO_DIR"

// TestCreateReadOnlyFS: Create in a folder on a read-only file system fails with the error of
// creating the temporary file, not of removing a stale one that is not there (which a read-only
// file system refuses too, with EROFS). The folder is a tmpfs mounted read-only in a user and
// mount namespace (unshare -rm), where the test binary runs again as the child below.
func TestCreateReadOnlyFS(t *testing.T) {
	if dir := os.Getenv(roDirEnv); dir != "" {
		path := filepath.Join(dir, "out.onnx")
		f, err := Create(path)
		if err == nil {
			f.Abort()
			t.Fatalf("Create in the read-only %s succeeded", dir)
		}
		if !errors.Is(err, syscall.EROFS) || !strings.HasPrefix(err.Error(), "open ") {
			t.Fatalf("Create in a read-only folder: %v, want the open's EROFS", err)
		}
		return
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare(1) to mount a read-only file system")
	}
	dir := t.TempDir()
	script := `mount -t tmpfs -o ro tmpfs "$1" || exit 77; exec "$2" -test.run '^TestCreateReadOnlyFS$' -test.v`
	cmd := exec.Command(unshare, "-rm", "sh", "-c", script, "sh", dir, os.Args[0])
	cmd.Env = append(os.Environ(), roDirEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && (ee.ExitCode() == 77 || strings.Contains(string(out), "unshare failed")) {
		t.Skipf("cannot mount a read-only tmpfs here: %s", out)
	}
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
