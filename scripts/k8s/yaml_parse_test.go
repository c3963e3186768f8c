package k8s

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseYAML(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []any
	}{
		{"scalars", "a: 1\nb: \"x: y # z\"\nc: 'it''s'\nd: plain # comment\n",
			[]any{map[string]any{"a": "1", "b": "x: y # z", "c": "it's", "d": "plain"}}},
		{"nested and documents", "# head\na:\n  b:\n    - 1\n    - c: 2\n      d: 3\n---\nk: v\n",
			[]any{map[string]any{"a": map[string]any{"b": []any{"1", map[string]any{"c": "2", "d": "3"}}}}, map[string]any{"k": "v"}}},
		{"sequence at the key's indentation", "a:\n- x\n- y\nb: z\n",
			[]any{map[string]any{"a": []any{"x", "y"}, "b": "z"}}},
		{"flow", `a: {name: work, mountPath: /work, x: [1, "2", {y: z}]}` + "\nb: [\"/bin/sh\", \"-c\"]\n",
			[]any{map[string]any{"a": map[string]any{"name": "work", "mountPath": "/work", "x": []any{"1", "2", map[string]any{"y": "z"}}}, "b": []any{"/bin/sh", "-c"}}}},
		{"folded strip", "args:\n  - >-\n    exec a\n    \"${X}/${Y}\"\n\n    b\n",
			[]any{map[string]any{"args": []any{"exec a \"${X}/${Y}\"\nb"}}}},
		{"folded more indented and clip", "a: >\n  x\n    y\n  z\nb: 1\n",
			[]any{map[string]any{"a": "x\n  y\nz\n", "b": "1"}}},
		{"literal", "a: |-\n  x # not a comment\n  y\n",
			[]any{map[string]any{"a": "x # not a comment\ny"}}},
		{"null", "a:\nb: 1\n", []any{map[string]any{"a": "", "b": "1"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseYAML(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("parseYAML (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseYAMLRefuses(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"anchor", "a: &x 1\n", "anchors"},
		{"alias", "a: *x\n", "anchors"},
		{"multi-line plain", "a: x\n  y\n", "multi-line"},
		{"multi-line flow", "a: {b: 1,\n  c: 2}\n", "line 1"},
		{"duplicate key", "a: 1\na: 2\n", "duplicate"},
		{"bad indentation", "a:\n    b: 1\n  c: 2\n", "indentation"},
		{"tab", "a:\n\tb: 1\n", "tab"},
		{"not a mapping line", "a: 1\nb\n", "key: value"},
		{"keep chomping", "a: >+\n  x\n", "block scalar header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseYAML(tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseYAML(%q): error %v, want one saying %q", tc.src, err, tc.want)
			}
		})
	}
}

// FuzzParseYAML checks that the reader never panics or loops, whatever it is given.
func FuzzParseYAML(f *testing.F) {
	if b, err := os.ReadFile(manifestFile); err == nil {
		f.Add(string(b))
	}
	f.Add("a:\n- b: {c: [d, 'e']}\n  f: >-\n    g\n---\nh: \"i\"\n")
	f.Fuzz(func(t *testing.T, src string) {
		parseYAML(src)
	})
}
