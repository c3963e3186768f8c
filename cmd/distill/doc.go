// Command distill distils a large ONNX teacher into a small Gorgonia student.
package main
