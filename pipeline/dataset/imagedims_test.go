package dataset

import (
	"testing"
)

func TestImageDims(t *testing.T) {
	tests := []struct {
		shape, model []int
		h, w, c      int
		ok           bool
	}{
		{[]int{28, 28}, nil, 28, 28, 1, true},
		{[]int{3, 32, 32}, nil, 32, 32, 3, true},
		{[]int{784}, []int{784}, 0, 0, 0, false}, // a vector, square or not
		{[]int{784}, []int{1, 28, 28}, 28, 28, 1, true},
		{[]int{4}, []int{4}, 0, 0, 0, false}, // an iris row is no 2x2 image
		{[]int{3072}, []int{3, 32, 32}, 32, 32, 3, true},
		{[]int{10}, []int{10}, 0, 0, 0, false},
		{[]int{2, 3, 4, 5}, nil, 0, 0, 0, false},
	}
	for _, tt := range tests {
		h, w, c, ok := ImageDims(tt.shape, tt.model)
		if h != tt.h || w != tt.w || c != tt.c || ok != tt.ok {
			t.Errorf("ImageDims(%v, %v) = %d, %d, %d, %v; want %d, %d, %d, %v", tt.shape, tt.model, h, w, c, ok, tt.h, tt.w, tt.c, tt.ok)
		}
	}
}

func TestImageDimsLayout(t *testing.T) {
	tests := []struct {
		shape, model []int
		layout       string
		h, w, c      int
		ok           bool
	}{
		{[]int{32, 32, 3}, nil, LayoutNHWC, 32, 32, 3, true},
		{[]int{28, 28}, nil, LayoutNHWC, 28, 28, 1, true},
		{[]int{3072}, []int{3, 32, 32}, LayoutNHWC, 32, 32, 3, true},
		{[]int{3072}, []int{3072}, LayoutNHWC, 0, 0, 0, false},
		{[]int{2, 3, 4, 5}, nil, LayoutNHWC, 0, 0, 0, false},
		{[]int{3, 32, 32}, nil, LayoutNCHW, 32, 32, 3, true},
		{[]int{3, 32, 32}, nil, "", 32, 32, 3, true},
	}
	for _, tt := range tests {
		h, w, c, ok := ImageDimsLayout(tt.shape, tt.model, tt.layout)
		if h != tt.h || w != tt.w || c != tt.c || ok != tt.ok {
			t.Errorf("ImageDimsLayout(%v, %v, %q) = %d, %d, %d, %v; want %d, %d, %d, %v", tt.shape, tt.model, tt.layout, h, w, c, ok, tt.h, tt.w, tt.c, tt.ok)
		}
	}
}
