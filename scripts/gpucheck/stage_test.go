package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stageScript runs a script of scripts/ with bash, in the repository root, with env added, and
// returns its output and whether it succeeded.
func stageScript(t *testing.T, env []string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command("bash", args...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("bash %v: %v", args, err)
		}
	}
	return string(out), err == nil
}

// TestStaging packs small synthetic files the way scripts/gpu-stage.sh packs the GPU check
// (scripts/gpu-parts.sh), receives every part as the GPU machine does (scripts/gpu-check.sh
// receive), reassembles them (assemble) and compares the files; a damaged part, a missing one
// and a damaged reassembled file are refused.
func TestStaging(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("xz not installed (scripts/setup.sh installs xz-utils)")
	}
	dir := t.TempDir()
	src, out, remote := filepath.Join(dir, "files"), filepath.Join(dir, "stage"), filepath.Join(dir, "remote")
	want := writeStageFiles(t, src)
	const partBytes = 4096
	if msg, ok := stageScript(t, nil, "scripts/gpu-parts.sh", "pack", src, out, "4096"); !ok {
		t.Fatalf("pack: %s", msg)
	}
	parts, manifest := checkParts(t, out, partBytes, want)
	env := []string{"DISTILL_GPU_TMP=" + remote, "OUT=" + filepath.Join(dir, "log")}

	// A damaged part is refused at receipt.
	bad := filepath.Join(dir, "bad", "part-01")
	os.MkdirAll(filepath.Dir(bad), 0o755)
	data, _ := os.ReadFile(parts[1])
	data[10] ^= 1
	os.WriteFile(bad, data, 0o644)
	os.WriteFile(filepath.Join(dir, "bad", "manifest.sha256"), manifest, 0o644)
	if msg, ok := stageScript(t, env, "scripts/gpu-check.sh", "receive", bad); ok || !strings.Contains(msg, "part-01 is damaged") {
		t.Errorf("receive of a damaged part: ok=%v\n%s", ok, msg)
	}

	// All parts but the last: assemble names the missing one.
	for _, p := range parts[:len(parts)-1] {
		if msg, ok := stageScript(t, env, "scripts/gpu-check.sh", "receive", p); !ok {
			t.Fatalf("receive %s: %s", p, msg)
		}
	}
	last := filepath.Base(parts[len(parts)-1])
	if msg, ok := stageScript(t, env, "scripts/gpu-check.sh", "assemble"); ok || !strings.Contains(msg, "parts missing in "+remote+": "+last) {
		t.Errorf("assemble without %s: ok=%v\n%s", last, ok, msg)
	}
	if msg, ok := stageScript(t, env, "scripts/gpu-check.sh", "receive", parts[len(parts)-1]); !ok {
		t.Fatalf("receive %s: %s", last, msg)
	}
	if msg, ok := stageScript(t, env, "scripts/gpu-check.sh", "assemble"); !ok {
		t.Fatalf("assemble: %s", msg)
	}
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(remote, "files", name))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("reassembled %s: %d bytes, err %v; want the %d bytes packed", name, len(got), err, len(b))
		}
	}
	if log, err := os.ReadFile(filepath.Join(dir, "log", "gpu-check.log")); err != nil || !strings.Contains(string(log), "reassembled and checked 4 files") {
		t.Errorf("gpu-check.log: %v\n%s", err, log)
	}

	// A manifest whose file sums do not match what the parts hold: assemble refuses the files.
	forged := strings.Replace(string(manifest), "  files/gpucheck", "  files/other", 1)
	forged = strings.Replace(forged, "  files/data/", "  files/gpucheck\n0000000000000000000000000000000000000000000000000000000000000000  files/data/", 1)
	os.WriteFile(filepath.Join(remote, "manifest.sha256"), []byte(forged), 0o644)
	if msg, ok := stageScript(t, env, "scripts/gpu-check.sh", "assemble"); ok || !strings.Contains(msg, "does not match its sum") {
		t.Errorf("assemble with a forged file sum: ok=%v\n%s", ok, msg)
	}
}

// writeStageFiles writes random files under src as gpu-stage.sh lays out files/ and returns them.
func writeStageFiles(t *testing.T, src string) map[string][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(48, 1))
	want := map[string][]byte{}
	for name, n := range map[string]int{"gpucheck": 3000, "lib/libonnxruntime.so.1": 5000, "lib/libonnxruntime_providers_cuda.so": 9000, "data/t10k-images-idx3-ubyte.gz": 700} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256)) // random bytes: xz cannot shrink them, so there are several parts
		}
		want[name] = b
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return want
}

// checkParts checks the parts and manifest that pack wrote to out and returns them.
func checkParts(t *testing.T, out string, partBytes int64, want map[string][]byte) ([]string, []byte) {
	t.Helper()
	parts, _ := filepath.Glob(filepath.Join(out, "part-*"))
	if len(parts) < 5 {
		t.Fatalf("%d parts of %d bytes for 17,700 random bytes, want at least 5", len(parts), partBytes)
	}
	manifest, err := os.ReadFile(filepath.Join(out, "manifest.sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if st, _ := os.Stat(p); st.Size() > partBytes {
			t.Errorf("%s: %d bytes > %d", p, st.Size(), partBytes)
		}
		if !strings.Contains(string(manifest), "  "+filepath.Base(p)+"\n") {
			t.Errorf("manifest lacks %s", filepath.Base(p))
		}
	}
	for name := range want {
		if !strings.Contains(string(manifest), "  files/"+name+"\n") {
			t.Errorf("manifest lacks files/%s", name)
		}
	}
	return parts, manifest
}
