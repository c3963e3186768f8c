package direct_test

import (
	"testing"

	// Package onnx's ONNX types: they register the protobuf names "onnx.*", which onnx-go's
	// generated types register too. Linking them here shows that package direct registers
	// nothing that conflicts: this test binary would panic at start otherwise.
	_ "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/distillgo/distill/onnx/purego/direct"
)

func TestLinksBesideGonnx(t *testing.T) {
	if _, err := direct.Load("../testdata/export_mlp_fp16.onnx"); err != nil {
		t.Fatal(err)
	}
}
