#!/usr/bin/python3
"""PyTorch CPU inference of a Gemm/Relu ONNX MLP over MNIST images: the comparison of
scripts/bench-targets.sh. The whole script is timed from outside (interpreter start, imports,
loading weights and data, inference, writing the logits), as `distill targets` is.

usage: bench_targets_torch.py MODEL.onnx IMAGES.idx[.gz] OUT.npy [BATCH]
"""
import gzip
import os
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper
import torch


def load_mlp(path):
    m = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    layers = []
    for node in m.graph.node:
        if node.op_type == "Gemm":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            w = inits[node.input[1]].astype(np.float32)
            if not attrs.get("transB", 0):
                w = w.T  # ONNX B is [in, out] unless transB; torch Linear wants [out, in]
            lin = torch.nn.Linear(w.shape[1], w.shape[0])
            lin.weight.data = torch.from_numpy(np.ascontiguousarray(w))
            lin.bias.data = torch.from_numpy(inits[node.input[2]].astype(np.float32))
            layers.append(lin)
        elif node.op_type == "Relu":
            layers.append(torch.nn.ReLU())
        else:
            raise SystemExit(f"{path}: unsupported op {node.op_type}")
    return torch.nn.Sequential(*layers).eval()


def load_idx(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        raw = f.read()
    nd = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    x = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims[0], -1)
    return x


def main():
    model, images, out = sys.argv[1:4]
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 1024
    # Debian's torch may start with one OpenMP thread; give it every core, as onnxruntime has.
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", os.cpu_count())))
    net = load_mlp(model)
    x = torch.from_numpy(load_idx(images).astype(np.float32) / 255.0)
    t0 = time.perf_counter()
    with torch.inference_mode():
        logits = torch.cat([net(x[s:s + batch]) for s in range(0, x.shape[0], batch)])
    loop = time.perf_counter() - t0
    np.save(out, logits.numpy())
    print(f'{{"n": {x.shape[0]}, "loop_s": {loop:.4f}, "threads": {torch.get_num_threads()}, '
          f'"logit_sum": {float(logits.double().sum()):.4f}}}')


if __name__ == "__main__":
    main()
