#!/usr/bin/python3
"""Time PyTorch training steps (forward, backward, Adam, cross-entropy on random data) of the
network a distill student spec describes, for scripts/bench-spec.sh. The spec's graph of layers is
built from torch.nn modules (dense Linear, conv2d Conv2d with its groups and padding, batchnorm
BatchNorm1d/2d with the same momentum and eps, the pools, add, concat and the activations), so
the two tools train the same architecture. Prints one line:

    torch spec=<name> batch=<B> steps=<N> samples_per_s=<S> cpu_ms_per_step=<C> peak_rss_mib=<M> threads=<T> params=<P>
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn


class Net(nn.Module):
    """The graph of a distill spec: each layer reads the previous output or its "inputs"."""

    def __init__(self, spec):
        super().__init__()
        self.layers = nn.ModuleList()
        self.reads = []
        shapes = {"input": list(spec["input"])}
        names = {}
        prev = "input"
        for i, l in enumerate(spec["layers"]):
            ins = l.get("inputs") or [prev]
            ins = [names.get(n, n) for n in ins]
            shape = shapes[ins[0]]
            m, out = self.module(l, shape, [shapes[n] for n in ins])
            self.layers.append(m)
            self.reads.append(ins)
            key = str(i)
            shapes[key] = out
            if l.get("name"):
                names[l["name"]] = key
            prev = key

    @staticmethod
    def module(l, shape, in_shapes):
        t = l["type"]
        bias = l.get("bias", True)
        if t == "dense":
            return nn.Linear(shape[0], l["units"], bias=bias), [l["units"]]
        if t == "conv2d":
            k, s = l["kernel"], l.get("stride", 1) or 1
            p = k // 2 if l.get("pad") == "same" else l.get("pad", 0)
            g = l.get("groups", 1) or 1
            h, w = (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1
            return nn.Conv2d(shape[0], l["filters"], k, s, p, groups=g, bias=bias), [l["filters"], h, w]
        if t in ("maxpool", "avgpool"):
            k = l["kernel"]
            s, p = l.get("stride", 0) or k, l.get("pad", 0)
            h, w = (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1
            cls = nn.MaxPool2d if t == "maxpool" else nn.AvgPool2d
            return cls(k, s, p), [shape[0], h, w]
        if t == "batchnorm":
            cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            return cls(shape[0], eps=l.get("eps", 1e-5) or 1e-5, momentum=l.get("momentum", 0.1) or 0.1), shape
        if t == "globalavgpool":
            return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), [shape[0]]
        if t == "flatten":
            return nn.Flatten(), [math.prod(shape)]
        if t == "dropout":
            return nn.Dropout(l.get("p", 0)), shape
        if t == "add":
            return Add(), shape
        if t == "concat":
            return Concat(), [sum(s[0] for s in in_shapes)] + shape[1:]
        acts = {"relu": nn.ReLU(), "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(), "hardswish": nn.Hardswish(),
                "gelu": nn.GELU(), "leakyrelu": nn.LeakyReLU(l.get("slope", 0.01) or 0.01)}
        return acts[t], shape

    def forward(self, x):
        vals = {"input": x}
        for i, (m, ins) in enumerate(zip(self.layers, self.reads)):
            args = [vals[n] for n in ins]
            vals[str(i)] = m(*args)
        return vals[str(len(self.layers) - 1)]


class Add(nn.Module):
    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(nn.Module):
    def forward(self, *xs):
        return torch.cat(xs, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/fashion-resnet.json")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    with open(a.model) as f:
        spec = json.load(f)
    net = Net(spec)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    lossf = nn.CrossEntropyLoss()
    x = torch.randn(a.batch, *spec["input"])
    y = torch.randint(0, spec["classes"], (a.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = lossf(net(x), y)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    c0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    el = time.perf_counter() - t0
    cpu = time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    params = sum(p.numel() for p in net.parameters())
    print(f"torch spec={spec.get('name', '')} batch={a.batch} steps={a.steps} samples_per_s={a.batch * a.steps / el:.1f} "
          f"cpu_ms_per_step={1000 * cpu / a.steps:.1f} peak_rss_mib={rss:.1f} threads={torch.get_num_threads()} params={params}")


if __name__ == "__main__":
    main()
