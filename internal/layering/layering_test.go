// Package layering holds one test: the import graph of the module points one way, as
// docs/design.md draws it (cmd -> pipeline/... -> student, onnx -> internal), and only package onnx
// runs onnxruntime.
package layering

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/distillgo/distill/"

// pkg is what `go list -json` says of one package.
type pkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "../../...")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(&out)
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	return pkgs
}

// layer returns the layer of a package of the module: the higher may import the lower only.
func layer(path string) (string, int) {
	rel := strings.TrimPrefix(path, module)
	switch {
	case strings.HasPrefix(rel, "cmd/"):
		return "cmd", 4
	case strings.HasPrefix(rel, "scripts/"):
		return "scripts", 4
	case rel == "faults":
		return "faults", 4
	case rel == "pipeline" || strings.HasPrefix(rel, "pipeline/"):
		return "pipeline", 3
	case rel == "student" || rel == "onnx" || strings.HasPrefix(rel, "onnx/"):
		return rel, 2
	case strings.HasPrefix(rel, "internal/"):
		return "internal", 1
	}
	return rel, 0
}

func TestImportsPointOneWay(t *testing.T) {
	for _, p := range listPackages(t) {
		from, lf := layer(p.ImportPath)
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				// scripts/benchort is the bare-onnxruntime baseline that bench-targets.sh times
				// distill against, so it calls onnxruntime_go itself.
				if imp == "github.com/yalue/onnxruntime_go" && from != "onnx" && !strings.HasSuffix(p.ImportPath, "scripts/benchort") {
					t.Errorf("%s imports onnxruntime_go: only package onnx may", p.ImportPath)
				}
				continue
			}
			to, lt := layer(imp)
			switch {
			case lt > lf:
				t.Errorf("%s (%s) imports %s (%s), a higher layer", p.ImportPath, from, imp, to)
			case lt == 2 && lf == 2 && to != from && !strings.HasPrefix(from, "onnx"):
				t.Errorf("%s imports %s: student and onnx are siblings", p.ImportPath, imp)
			// scripts/clidoc writes docs/cli.md from the command line itself, so it is the one
			// program beside cmd/distill that imports cmd/command.
			case lt == 4 && !((from == "cmd" || strings.HasSuffix(p.ImportPath, "scripts/clidoc")) && strings.HasSuffix(imp, "cmd/command")):
				t.Errorf("%s imports %s: nothing imports a command", p.ImportPath, imp)
			}
		}
	}
}

// TestPipelineOpensNoRuntime: the pipeline runs models only through the model.Runtime or
// model.Teacher it is handed, never by opening a session or loading onnxruntime itself.
func TestPipelineOpensNoRuntime(t *testing.T) {
	banned := map[string]bool{"Open": true, "Init": true}
	for _, p := range listPackages(t) {
		if l, _ := layer(p.ImportPath); l != "pipeline" {
			continue
		}
		for _, name := range p.GoFiles {
			path := filepath.Join(p.Dir, name)
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			local := ""
			for _, im := range f.Imports {
				if strings.Trim(im.Path.Value, `"`) == module+"onnx" {
					local = "onnx"
					if im.Name != nil {
						local = im.Name.Name
					}
				}
			}
			if local == "" {
				continue
			}
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if ok {
					if id, ok := sel.X.(*ast.Ident); ok && id.Name == local && banned[sel.Sel.Name] {
						t.Errorf("%s calls onnx.%s: pipeline code opens models through a model.Runtime", path, sel.Sel.Name)
					}
				}
				return true
			})
		}
	}
}
