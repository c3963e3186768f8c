package meta

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionFile holds Version, what a build without the Makefile's stamp says, equal to the
// VERSION file that `make build` stamps, so every build of one tree says one version.
func TestVersionFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	if v := strings.TrimSpace(string(b)); v != Version {
		t.Errorf("VERSION holds %q but meta.Version is %q: change both", v, Version)
	}
	if want := "distill/" + Version; ToolVersion != want {
		t.Errorf("ToolVersion = %q, want %q", ToolVersion, want)
	}
}
