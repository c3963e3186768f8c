package train

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// batchSize is the largest batch a step runs: Batch, or all the samples when there are fewer
// (one batch of all of them either way, so the results are the same), so that a --batch far
// above the data does not size its buffers.
func (t *trainer) batchSize() int { return min(t.opts.Batch, t.samples()) }

// memAvailable returns the memory the kernel says a new allocation can take without swapping
// (MemAvailable in /proc/meminfo), in bytes; ok is false where it cannot be read (not Linux).
// A variable so that tests can set it.
var memAvailable = func() (bytes int64, ok bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	return parseMemAvailable(b)
}

// parseMemAvailable reads the MemAvailable line ("MemAvailable:   23339636 kB") of meminfo.
func parseMemAvailable(meminfo []byte) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 3 && string(f[0]) == "MemAvailable:" && string(f[2]) == "kB" {
			kb, err := strconv.ParseInt(string(f[1]), 10, 64)
			return kb * 1024, err == nil
		}
	}
	return 0, false
}

// memoryNeed is a lower bound of the bytes a training step takes, in float32s of 4 bytes: the
// parameters with their gradients and the optimiser's two moments (Adam's; SGD keeps fewer,
// which the bound then overstates by at most half the parameters), every layer's output and its
// gradient for each sample of a batch, and the batch buffers of the input (three batches in
// flight, raw and preprocessed). Kernel scratch (a convolution's im2col) and Go's own overhead
// come on top, so a run the bound refuses cannot fit.
func memoryNeed(params, activations, inDim, stDim, batch int) int64 {
	p, a := int64(params), int64(activations)
	return 4 * (4*p + int64(batch)*(2*a+3*int64(inDim+stDim)))
}

// checkMemory refuses a run whose batch cannot fit in the machine's available memory, naming
// the batch and the figures, before anything is allocated for it; on a machine whose available
// memory cannot be read it checks nothing.
func (t *trainer) checkMemory() error {
	avail, ok := memAvailable()
	if !ok {
		return nil
	}
	g, err := t.spec.Graph()
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	b := t.batchSize()
	need := memoryNeed(g.NumParams(), g.ActivationValues(), t.inDim, t.stDim, b)
	if need <= avail {
		return nil
	}
	return optErr("Batch", "a batch of %d samples of %s needs at least %s (%d activation values per sample, kept with their gradients, and %d parameters), but the machine has %s available: lower the batch",
		b, t.opts.Spec, gib(need), g.ActivationValues(), g.NumParams(), gib(avail))
}

// gib writes a byte count in GiB for a message.
func gib(n int64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }
