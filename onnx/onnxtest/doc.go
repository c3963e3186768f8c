// Package onnxtest holds test helpers for code that runs ONNX models: it finds and loads the
// onnxruntime library (skipping the test when it is missing) and writes tiny ONNX models with
// known weights, so that tests can compute the expected outputs by hand.
//
// GemmClassifier and MLP write models with one float32 input named "input" and an output named
// "output": float32 [N, classes] unless GemmClassifier's options make it another float type
// (CastOutput) or a scikit-learn style ZipMap (ZipMap, ZipMapInts), or add outputs beside it
// ("label" before it, "logits" after it). Models fed by name have GemmClassifier's head and its
// options: SumInputs takes inputs of any element type and sums them, TokenClassifier is shaped
// like a text classifier (int64 input_ids and attention_mask [N, L], L fixed or dynamic).
// TwoInputs and IntInput are the smallest models with two inputs and with an int64 input. Unless
// an option says otherwise the batch axis is dynamic (dim_param "N"). Models use IR version 8 and
// opset 13 (and ai.onnx.ml 1 for a ZipMap).
package onnxtest
