package purego_test

import (
	"fmt"
	"log"
	"slices"

	"github.com/distillgo/distill/onnx/purego"
)

// A service classifies a raw image with a distill student: it reads the preprocessing distill
// recorded in the model, applies it to the pixels and takes the class of the largest logit.
// The model is a tiny float16 MLP written by distill's exporter (testdata, go generate).
func Example() {
	m, err := purego.Load("testdata/export_mlp_fp16.onnx")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	pre := m.Preprocess() // from the metadata key distill.preprocess
	fmt.Printf("scale %g, input shape %v, %d classes\n", pre.Scale, pre.InputShape, m.Classes())

	pixels := []float32{0, 32, 64, 96, 128, 160, 192, 224, 255, 200, 100, 0} // a 12-pixel "image"
	x, err := pre.Apply(pixels)
	if err != nil {
		log.Fatal(err)
	}
	logits, err := m.Predict(x, 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("class", slices.Index(logits, slices.Max(logits)))
	// Output:
	// scale 255, input shape [12], 3 classes
	// class 1
}
