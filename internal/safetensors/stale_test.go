package safetensors

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestCreateRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "soft[1].safetensors")

	// A pid that certainly belongs to no live process: a child that has exited and been reaped.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run a child process: %v", err)
	}
	dead := path + ".tmp-" + strconv.Itoa(cmd.Process.Pid)
	live := path + ".tmp-1" // pid 1 is always alive
	other := filepath.Join(dir, "other.safetensors.tmp-"+strconv.Itoa(cmd.Process.Pid))
	for _, f := range []string{dead, live, other} {
		if err := os.WriteFile(f, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	w, err := Create(path, []TensorInfo{{Name: "x", DType: "F32", Shape: []int{1}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAt("x", 0, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		file string
		want bool
	}{
		{"dead writer's temp removed", dead, false},
		{"live writer's temp kept", live, true},
		{"another path's temp kept", other, true},
		{"committed file present", path, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := os.Stat(tt.file)
			if got := err == nil; got != tt.want {
				t.Errorf("%s exists = %v, want %v", tt.file, got, tt.want)
			}
		})
	}
}
