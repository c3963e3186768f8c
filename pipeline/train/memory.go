package train

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// batchSize is the largest batch a step runs: Batch, or all the samples when there are fewer
// (one batch of all of them either way, so the results are the same), so that a --batch far
// above the data does not size its buffers.
func (t *trainer) batchSize() int { return min(t.opts.Batch, t.samples()) }

// memAvailable returns the memory a new allocation can take, in bytes: the least of what the
// kernel says it can give without swapping (MemAvailable in /proc/meminfo), the process's
// address-space limit (ulimit -v, in /proc/self/limits) and the room left under a cgroup v2
// memory limit (a container's: memory.max less memory.current). ok is false where none can be
// read (not Linux). A variable so that tests can set it.
var memAvailable = func() (n int64, ok bool) {
	var avail []int64
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if n, ok := parseMemAvailable(b); ok {
			avail = append(avail, n)
		}
	}
	if b, err := os.ReadFile("/proc/self/limits"); err == nil {
		if n, ok := parseAddressLimit(b); ok {
			avail = append(avail, n)
		}
	}
	max, errMax := os.ReadFile("/sys/fs/cgroup/memory.max")
	cur, errCur := os.ReadFile("/sys/fs/cgroup/memory.current")
	if errMax == nil && errCur == nil {
		m, err1 := strconv.ParseInt(string(bytes.TrimSpace(max)), 10, 64) // "max" when unlimited
		c, err2 := strconv.ParseInt(string(bytes.TrimSpace(cur)), 10, 64)
		if err1 == nil && err2 == nil {
			// memory.current counts the page cache, which the kernel reclaims before it fails
			// an allocation (right after reading a large data file it is most of it): count the
			// inactive file pages as free, as MemAvailable does.
			if stat, err := os.ReadFile("/sys/fs/cgroup/memory.stat"); err == nil {
				c -= statField(stat, "inactive_file")
			}
			avail = append(avail, m-c)
		}
	}
	if len(avail) == 0 {
		return 0, false
	}
	return slices.Min(avail), true
}

// statField returns the value of field in a cgroup v2 memory.stat ("inactive_file 123"), 0 when
// it is absent.
func statField(stat []byte, field string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(stat))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 2 && string(f[0]) == field {
			if v, err := strconv.ParseInt(string(f[1]), 10, 64); err == nil {
				return v
			}
		}
	}
	return 0
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

// parseAddressLimit reads the soft limit of the "Max address space" line of /proc/self/limits
// ("Max address space  6144000000  unlimited  bytes"); ok is false when it is unlimited.
func parseAddressLimit(limits []byte) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(limits))
	for sc.Scan() {
		rest, found := strings.CutPrefix(sc.Text(), "Max address space")
		if !found {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 1 {
			return 0, false
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		return n, err == nil
	}
	return 0, false
}

// memoryNeed is a lower bound of the bytes a training step takes, in float32s of 4 bytes: the
// parameters with their gradients and the optimiser's two moments (Adam's; SGD keeps fewer,
// which the bound then overstates by at most half the parameters), every layer's output and its
// gradient for each sample of a batch, and the batch buffers of the input (three batches in
// flight, raw and preprocessed). Kernel scratch (a convolution's padded copies) and Go's own overhead
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
	return optErr("Batch", "a batch of %d samples of %s needs at least %s (%d activation values per sample, kept with their gradients, and %d parameters), but only %s is available (the least of MemAvailable, ulimit -v and a cgroup's memory.max): lower the batch",
		b, t.opts.Spec, gib(need), g.ActivationValues(), g.NumParams(), gib(avail))
}

// gib writes a byte count in GiB for a message.
func gib(n int64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }
