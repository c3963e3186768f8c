package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/distillgo/distill/pipeline/sweep"
)

func TestStatFormat(t *testing.T) {
	tests := []struct {
		vs       []float64
		decimals int
		unit     string
		want     string
	}{
		{[]float64{206}, 1, "", "206"},
		{[]float64{2.85}, 2, "", "2.85"},
		{[]float64{49378, 49378}, 0, "", "49378"},
		{[]float64{200, 210, 214}, 1, "", "208.0 (200.0–214.0)"},
		{[]float64{47.5, 13.5}, 1, "%", "30.5% (13.5%–47.5%)"},
	}
	for _, tt := range tests {
		if got := statOf(tt.vs).format(tt.decimals, tt.unit, len(tt.vs)); got != tt.want {
			t.Errorf("format(%v) = %q, want %q", tt.vs, got, tt.want)
		}
	}
}

// TestReadSize reads experiment 3's runs of two seeds from a folder laid out as paper.sh does,
// skipping a seed whose sweep is missing, and writes its table.
func TestReadSize(t *testing.T) {
	dir := t.TempDir()
	write := func(seed string, hardErrors int, errs []int) {
		d := filepath.Join(dir, "h30-s"+seed)
		if err := os.MkdirAll(filepath.Join(d, "sweep"), 0o755); err != nil {
			t.Fatal(err)
		}
		line := `{"epoch":1,"loss":1,"soft_loss":0,"hard_loss":1,"eval_errors":` + itoa(hardErrors) + `,"samples_per_sec":1,"seconds":2}` + "\n"
		if err := os.WriteFile(filepath.Join(d, "hard.jsonl"), []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
		if errs == nil {
			return
		}
		var res []sweep.Result
		for i, e := range errs {
			res = append(res, sweep.Result{Temperature: []float64{1, 4, 20}[i], Alpha: 0.7, Errors: e, Epochs: 1, Seconds: 3})
		}
		b, _ := json.Marshal(res)
		if err := os.WriteFile(filepath.Join(d, "sweep", "sweep.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1", 500, []int{480, 400, 450})
	write("2", 520, []int{470, 410, 470})
	write("3", 510, nil) // the sweep has not run yet
	s, err := readSize(dir, "30", []string{"1", "2", "3"})
	if err != nil {
		t.Fatal(err)
	}
	want := &sizeRuns{Units: "30", Seeds: []string{"1", "2"}, Hard: []int{500, 520}, Temps: []float64{1, 4, 20},
		ByTemp: [][]int{{480, 470}, {400, 410}, {450, 470}}, Seconds: 2*2 + 2*3*3, Epochs: 1}
	if d := cmp.Diff(want, s); d != "" {
		t.Fatalf("readSize (-want +got):\n%s", d)
	}
	if b := bestTemp(*s); b != 1 {
		t.Errorf("best temperature index %d, want 1 (T=4)", b)
	}
	var md strings.Builder
	r := &results{Exp3: []sizeRuns{*s}}
	if err := r.writeExp3(&md, dir); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| hard labels | 510.0 (500.0–520.0) |", "| 4 | **405.0 (400.0–410.0)** |", "exp3-temperature.png"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, md.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "exp3-temperature.png")); err != nil {
		t.Errorf("plot: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
