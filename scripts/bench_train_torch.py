#!/usr/bin/python3
"""Time PyTorch training steps of the 784-800-800-10 student (forward, backward, Adam) for
scripts/bench-train.sh. Prints one line:

    torch batch=<B> steps=<N> samples_per_s=<S> cpu_ms_per_step=<C> peak_rss_mib=<M> threads=<T>
"""
import argparse
import resource
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(784, 800), torch.nn.ReLU(),
        torch.nn.Linear(800, 800), torch.nn.ReLU(),
        torch.nn.Linear(800, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    lossf = torch.nn.CrossEntropyLoss()
    x = torch.randn(a.batch, 784)
    y = torch.randint(0, 10, (a.batch,))

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
    print(f"torch batch={a.batch} steps={a.steps} samples_per_s={a.batch * a.steps / el:.1f} "
          f"cpu_ms_per_step={1000 * cpu / a.steps:.1f} peak_rss_mib={rss:.1f} threads={torch.get_num_threads()}")


if __name__ == "__main__":
    main()
