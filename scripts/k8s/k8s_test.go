// Package k8s holds no code, only the tests of the Kubernetes manifests in this directory: the
// cluster path, run locally. TestJobs reads targets-job.yaml, runs each pod of the Indexed
// Job as a local process (JOB_COMPLETION_INDEX = 0 .. completions-1, at most parallelism at a
// time), then the merge Job's init container and container, and checks that the merged file is
// byte-identical to one `distill targets` run over all samples. TestDrift edits copies of the
// manifest as a careless change would and checks that each edit fails the same run.
//
// The mapping from the cluster to this machine:
//
//   - the image's files under imageRoot (/opt/distill, laid out by the Dockerfile) are symbolic
//     links in <tmp>/image: bin/distill to the distill binary TestMain builds,
//     third_party/onnxruntime/cpu/libonnxruntime.so.1 to the onnxruntime library the tests
//     use (onnxtest.RequireLibrary); /bin/sh is this machine's shell (the busybox init container
//     needs only its built-ins and sleep);
//   - each PersistentVolumeClaim is the directory <tmp>/pvc/<claim>, and a container's
//     mountPath stands for it; before the Jobs run it holds what scripts/k8s/README.md says
//     the claim must hold (pvcFiles): a random 784-16-10 MLP teacher and 2103 random 28x28
//     images with labels, gzip IDX like MNIST's, made by the test;
//   - every absolute path in a command, its arguments or an environment value must lie under a
//     mountPath or be one of the image's files, or the run fails: a path on this machine is
//     never read or written by mistake;
//   - Kubernetes' own $(VAR) expansion of command and args is done as the kubelet does it
//     before the shell sees them; JOB_COMPLETION_INDEX is set as the Job controller sets it.
package k8s

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distillgo/distill/onnx"
	"github.com/distillgo/distill/onnx/onnxtest"
)

// distillBin is the distill binary TestMain builds, in tmpDir, which TestMain removes at the
// end (with the fixtures).
var distillBin, tmpDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "distill-k8s-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmpDir, distillBin = dir, filepath.Join(dir, "distill")
	build := exec.Command("go", "build", "-o", distillBin, "github.com/distillgo/distill/cmd/distill")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build distill: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	manifestFile   = "targets-job.yaml"
	dockerfileFile = "Dockerfile"
	readmeFile     = "README.md"

	// imageRoot is where the distill image keeps its files (the Dockerfile's WORKDIR).
	imageRoot = "/opt/distill"
	// imageBin and imageLib are the image's distill binary and onnxruntime library, relative
	// to imageRoot.
	imageBin = "bin/distill"
	imageLib = "third_party/onnxruntime/cpu/libonnxruntime.so.1"

	// hostShell is the one path outside the volumes and the image a command may name.
	hostShell = "/bin/sh"

	// podTimeout bounds each container; initTimeout bounds an init container, which on a
	// cluster polls every 10 s for files that, here, all exist before it starts (it needs
	// milliseconds): if it has not finished after 3 s it waits for a file the shards never
	// write.
	podTimeout  = 60 * time.Second
	initTimeout = 3 * time.Second

	// samples is the size of the made-up transfer set: more than two of distill's default
	// batches (1024), so the single run and the shards cut it into different batches, and not
	// a multiple of the shard count, so that shards differ in size.
	samples = 2100 + 3
)

// pvcFiles are the files the claim must hold before the Jobs run (scripts/k8s/README.md).
var pvcFiles = []string{"models/teacher.onnx", "data/train-images-idx3-ubyte.gz", "data/train-labels-idx1-ubyte.gz"}

// fixtures makes the claim's files once per test binary, in tmpDir.
var fixtures struct {
	sync.Mutex
	dir string
}

// fixtureDir returns a directory holding pvcFiles.
func fixtureDir(t *testing.T) string {
	t.Helper()
	fixtures.Lock()
	defer fixtures.Unlock()
	if fixtures.dir == "" {
		dir := filepath.Join(tmpDir, "fixtures")
		if err := writeFixtures(dir); err != nil {
			t.Fatal(err)
		}
		// A random teacher 784-16-10 (onnxtest reports through a testing.TB).
		onnxtest.MLP(t, filepath.Join(dir, pvcFiles[0]), []int{784, 16, 10}, 7)
		fixtures.dir = dir
	}
	return fixtures.dir
}

// writeFixtures writes the images and labels of pvcFiles under dir: samples 28x28 images of
// seeded noise with a class-dependent bright band, and their labels, as gzip IDX.
func writeFixtures(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(2015, 9))
	x := make([]byte, samples*784)
	y := make([]byte, samples)
	for i := range samples {
		c := rng.IntN(10)
		y[i] = byte(c)
		for p := range 784 {
			v := rng.IntN(60)
			if (p/28)/3 == c%9 {
				v += 150
			}
			x[i*784+p] = byte(v)
		}
	}
	if err := writeGzipIDX(filepath.Join(dir, pvcFiles[1]), []int{samples, 28, 28}, x); err != nil {
		return err
	}
	return writeGzipIDX(filepath.Join(dir, pvcFiles[2]), []int{samples}, y)
}

func writeGzipIDX(path string, dims []int, data []byte) error {
	b := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(append(b, data...))
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// cluster runs manifests on this machine.
type cluster struct {
	lib      string // the onnxruntime library
	fixtures string // a directory with pvcFiles
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	return &cluster{lib: onnxtest.RequireLibrary(t), fixtures: fixtureDir(t)}
}

// report is what a run of the manifests did.
type report struct {
	shards      int           // pods of the Indexed Job
	parallelism int           // at most this many at a time
	shardWall   time.Duration // all shard pods, first start to last end
	mergeWall   time.Duration // the merge Job's init containers and container
	singleWall  time.Duration // the single run
	size        int           // bytes of the merged file
}

// apply runs the Jobs of the manifest src in a fresh directory under root, as a cluster
// would: the Indexed Job, then the merge Job. It then runs the shard container's command once
// more with --shard 0/1 (the flag's default: all samples in one range) and --out replaced, and
// returns an error unless the merged file equals that single run's byte for byte.
func (cl *cluster) apply(ctx context.Context, root, src string) (report, error) {
	var rep report
	js, err := jobs(src)
	if err != nil {
		return rep, fmt.Errorf("read %s: %w", manifestFile, err)
	}
	shard, merge, err := pair(js)
	if err != nil {
		return rep, err
	}
	rep.shards, rep.parallelism = shard.completions, shard.parallelism
	w, err := cl.world(root, js)
	if err != nil {
		return rep, err
	}
	sc := shard.containers[0]

	start := time.Now()
	errs := make([]error, shard.completions)
	sem := make(chan struct{}, shard.parallelism)
	var wg sync.WaitGroup
	for i := range shard.completions {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			idx := []envVar{{"JOB_COMPLETION_INDEX", strconv.Itoa(i)}}
			if err := w.run(ctx, podTimeout, sc, idx, nil); err != nil {
				errs[i] = fmt.Errorf("job %s, index %d: %w", shard.name, i, err)
			}
		}()
	}
	wg.Wait()
	rep.shardWall = time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return rep, err
	}

	start = time.Now()
	for _, c := range merge.init {
		if err := w.run(ctx, initTimeout, c, nil, nil); err != nil {
			return rep, fmt.Errorf("job %s, init container %s: %w", merge.name, c.name, err)
		}
	}
	mc := merge.containers[0]
	if err := w.run(ctx, podTimeout, mc, nil, nil); err != nil {
		return rep, fmt.Errorf("job %s: %w", merge.name, err)
	}
	rep.mergeWall = time.Since(start)
	out, err := w.flagPath(mc, "out", nil)
	if err != nil {
		return rep, fmt.Errorf("job %s: %w", merge.name, err)
	}
	merged, err := os.ReadFile(out)
	if err != nil {
		return rep, fmt.Errorf("job %s: read the merged file: %w", merge.name, err)
	}
	rep.size = len(merged)

	start = time.Now()
	single := filepath.Join(root, "single.safetensors")
	idx := []envVar{{"JOB_COMPLETION_INDEX", "0"}}
	if err := w.run(ctx, podTimeout, sc, idx, map[string]string{"shard": "0/1", "out": single}); err != nil {
		return rep, fmt.Errorf("single run of job %s's command: %w", shard.name, err)
	}
	rep.singleWall = time.Since(start)
	want, err := os.ReadFile(single)
	if err != nil {
		return rep, err
	}
	if !bytes.Equal(merged, want) {
		at := 0
		for at < min(len(merged), len(want)) && merged[at] == want[at] {
			at++
		}
		return rep, fmt.Errorf("merged file %s (%d bytes) differs from the single run (%d bytes) from byte %d", out, len(merged), len(want), at)
	}
	return rep, nil
}

// pair picks the Indexed Job and the merge Job out of js and checks what a local run cannot
// show by failing: the shard count written beside completions agrees with it.
func pair(js []job) (shard, merge job, err error) {
	if len(js) != 2 || js[0].indexed == js[1].indexed {
		return shard, merge, fmt.Errorf("%s: want two Jobs, an Indexed one (the shards) and a merge Job", manifestFile)
	}
	shard, merge = js[0], js[1]
	if merge.indexed {
		shard, merge = merge, shard
	}
	if len(shard.init) != 0 || len(shard.containers) != 1 || len(merge.containers) != 1 {
		return shard, merge, fmt.Errorf("%s: want one container in each Job and no init container in %s", manifestFile, shard.name)
	}
	if shard.parallelism > shard.completions {
		return shard, merge, fmt.Errorf("job %s: parallelism %d above completions %d", shard.name, shard.parallelism, shard.completions)
	}
	if merge.completions != 1 {
		return shard, merge, fmt.Errorf("job %s: completions %d: the merge runs once", merge.name, merge.completions)
	}
	for _, c := range append(append([]container{shard.containers[0]}, merge.init...), merge.containers...) {
		if v, ok := c.envValue("SHARDS"); ok && v != strconv.Itoa(shard.completions) {
			return shard, merge, fmt.Errorf("container %s: SHARDS=%s but job %s has completions %d", c.name, v, shard.name, shard.completions)
		}
	}
	if !sameClaims(shard.claims, merge.claims) {
		return shard, merge, fmt.Errorf("jobs %s and %s mount different claims: %v, %v", shard.name, merge.name, shard.claims, merge.claims)
	}
	return shard, merge, nil
}

func sameClaims(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// world is the local stand-in for one cluster: the image's files and the claims' directories.
type world struct {
	image string            // local directory standing for imageRoot
	pvc   map[string]string // claim -> local directory
	root  string
}

// world lays out root for the Jobs js: the image links and a copy of the fixtures in each
// claim's directory.
func (cl *cluster) world(root string, js []job) (*world, error) {
	w := &world{image: filepath.Join(root, "image"), pvc: map[string]string{}, root: root}
	for rel, target := range map[string]string{imageBin: distillBin, imageLib: cl.lib} {
		p := filepath.Join(w.image, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.Symlink(target, p); err != nil {
			return nil, err
		}
	}
	for _, j := range js {
		for _, claim := range j.claims {
			if _, ok := w.pvc[claim]; ok {
				continue
			}
			dir := filepath.Join(root, "pvc", claim)
			for _, f := range pvcFiles {
				b, err := os.ReadFile(filepath.Join(cl.fixtures, f))
				if err != nil {
					return nil, err
				}
				p := filepath.Join(dir, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					return nil, err
				}
				if err := os.WriteFile(p, b, 0o644); err != nil {
					return nil, err
				}
			}
			w.pvc[claim] = dir
		}
	}
	return w, nil
}

// absPath finds absolute paths in a command line or value: a "/" at the start or after a
// blank, a quote, "=", ":", "(" or "[", up to a blank, a quote, ";", ":" or ")".
var absPath = regexp.MustCompile(`(?:^|[\s"'=:(\[])(/[^\s"';:)]*)`)

// localize maps every absolute path in s to this machine, or fails naming the first that lies
// under no mount of the container and is not one of the image's files or the shell.
func (w *world) localize(s string, mounts map[string]string) (string, error) {
	var b strings.Builder
	last := 0
	for _, m := range absPath.FindAllStringSubmatchIndex(s, -1) {
		p := s[m[2]:m[3]]
		local, err := w.local(p, mounts)
		if err != nil {
			return "", err
		}
		b.WriteString(s[last:m[2]])
		b.WriteString(local)
		last = m[3]
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

func (w *world) local(p string, mounts map[string]string) (string, error) {
	if p == hostShell {
		return p, nil
	}
	if rel, ok := strings.CutPrefix(p, imageRoot+"/"); ok {
		if rel != imageBin && rel != imageLib {
			return "", fmt.Errorf("path %s: the image (%s) holds only %s/%s and %s/%s", p, dockerfileFile, imageRoot, imageBin, imageRoot, imageLib)
		}
		return filepath.Join(w.image, rel), nil
	}
	// The longest mountPath that holds p.
	best := ""
	for mp := range mounts {
		if (p == mp || strings.HasPrefix(p, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best = mp
		}
	}
	if best == "" {
		return "", fmt.Errorf("path %s is not under a volume mount of the container nor in the image", p)
	}
	return mounts[best] + p[len(best):], nil
}

// kubeExpand does what the kubelet does to a container's command, args and env values:
// $(NAME) becomes NAME's value when NAME is defined, and $$ becomes $; anything else stays.
func kubeExpand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '(':
			if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
				if v, ok := env[s[i+2:i+2+end]]; ok {
					b.WriteString(v)
					i += 2 + end
					continue
				}
			}
		}
		b.WriteByte('$')
	}
	return b.String()
}

// prepared is a container's command line and environment, mapped to this machine.
type prepared struct {
	argv []string
	env  []string
	vars map[string]string // the same environment, by name, as the container sees it
}

// prepare maps container c to this machine, with extra variables set after its own (as the
// Job controller adds JOB_COMPLETION_INDEX).
func (w *world) prepare(c container, extra []envVar) (prepared, error) {
	var p prepared
	mounts := map[string]string{}
	for _, m := range c.mount {
		mounts[m.path] = w.pvc[m.claim]
	}
	p.vars = map[string]string{}
	p.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + w.root}
	for _, e := range append(slices.Clip(c.env), extra...) {
		v, err := w.localize(kubeExpand(e.value, p.vars), mounts)
		if err != nil {
			return p, fmt.Errorf("container %s: env %s: %w", c.name, e.name, err)
		}
		p.vars[e.name] = v
		p.env = append(p.env, e.name+"="+v)
	}
	for _, a := range c.argv {
		// $(VAR) sees the container's values before they are mapped, as in the cluster; the
		// mapping then applies to the result.
		v, err := w.localize(kubeExpand(a, clusterVars(c, extra)), mounts)
		if err != nil {
			return p, fmt.Errorf("container %s: %w", c.name, err)
		}
		p.argv = append(p.argv, v)
	}
	return p, nil
}

func clusterVars(c container, extra []envVar) map[string]string {
	vars := map[string]string{}
	for _, e := range append(slices.Clip(c.env), extra...) {
		vars[e.name] = kubeExpand(e.value, vars)
	}
	return vars
}

// flagValue finds "--name value" or "--name=value" in a command line; the value may be quoted.
func flagValue(name string) *regexp.Regexp {
	return regexp.MustCompile(`(--` + regexp.QuoteMeta(name) + `[ =])("[^"]*"|'[^']*'|[^\s"';]+)`)
}

// flagPath returns where container c's --name flag points on this machine, with its shell
// variables (${VAR} or $VAR) expanded from the container's environment.
func (w *world) flagPath(c container, name string, extra []envVar) (string, error) {
	p, err := w.prepare(c, extra)
	if err != nil {
		return "", err
	}
	re := flagValue(name)
	var found []string
	for _, a := range p.argv {
		for _, m := range re.FindAllStringSubmatch(a, -1) {
			found = append(found, strings.Trim(m[2], `"'`))
		}
	}
	if len(found) != 1 {
		return "", fmt.Errorf("container %s: want one --%s in its command, found %d", c.name, name, len(found))
	}
	return os.Expand(found[0], func(k string) string { return p.vars[k] }), nil
}

// run runs container c on this machine within timeout. set replaces the values of the named
// flags in its command (each must be there once), for the single run.
func (w *world) run(ctx context.Context, timeout time.Duration, c container, extra []envVar, set map[string]string) error {
	p, err := w.prepare(c, extra)
	if err != nil {
		return err
	}
	for name, v := range set {
		re, n := flagValue(name), 0
		for i, a := range p.argv {
			n += len(re.FindAllStringIndex(a, -1))
			p.argv[i] = re.ReplaceAllString(a, "${1}"+strings.ReplaceAll(v, "$", "$$"))
		}
		if n != 1 {
			return fmt.Errorf("container %s: want one --%s in its command to replace, found %d", c.name, name, n)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.argv[0], p.argv[1:]...)
	cmd.Env = p.env
	cmd.Dir = w.image
	// The command runs in its own process group, killed whole at the timeout: a shell's
	// children (the init container's sleep) go with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("container %s: still running after %v (waiting for a file that is not there?): %s", c.name, timeout, tail(out.String()))
	}
	if err != nil {
		return fmt.Errorf("container %s: %w: %s", c.name, err, tail(out.String()))
	}
	return nil
}

// tail returns distill's error lines of a process's output, or its last lines when it has none.
func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var keep []string
	for _, l := range lines {
		if strings.HasPrefix(l, "distill: ") {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		keep = lines[max(0, len(lines)-3):]
	}
	return strings.Join(keep, "\n")
}

// TestJobs checks the image the manifests expect, runs their Jobs locally and compares the
// merged file with a single run.
func TestJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs distill several times; skipped with -short")
	}
	cl := newCluster(t)
	rep, err := cl.verify(context.Background(), t.TempDir(), readFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	if rep.shards < 2 {
		t.Errorf("the Indexed Job has %d completions: a test of sharding wants at least 2", rep.shards)
	}
	t.Logf("%d shards (%d at a time) %v, merge %v, single run %v; merged file %d bytes, equal to the single run",
		rep.shards, rep.parallelism, rep.shardWall.Round(time.Millisecond), rep.mergeWall.Round(time.Millisecond),
		rep.singleWall.Round(time.Millisecond), rep.size)
}

// checkImage checks the image the manifest expects against the Dockerfile that builds it and
// the README that names it: the Dockerfile's WORKDIR is imageRoot, it copies the binary and the
// library to imageBin and imageLib there and sets ONNXRUNTIME_LIB to the library; every
// container that runs distill uses one image, named in the README's build command.
func checkImage(manifest, dockerfile, readme string) error {
	js, err := jobs(manifest)
	if err != nil {
		return fmt.Errorf("read %s: %w", manifestFile, err)
	}
	var workdir, envLib string
	var copied []string
	for l := range strings.Lines(dockerfile) {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "WORKDIR":
			workdir = f[len(f)-1] // the last one is the runtime stage's
		case "COPY":
			if len(f) == 4 && strings.HasPrefix(f[1], "--from=") {
				copied = append(copied, f[3])
			}
		case "ENV":
			if v, ok := strings.CutPrefix(strings.Join(f[1:], " "), onnx.LibraryEnv+"="); ok {
				envLib = v
			}
		}
	}
	bin, lib := imageRoot+"/"+imageBin, imageRoot+"/"+imageLib
	switch {
	case workdir != imageRoot:
		return fmt.Errorf("%s: WORKDIR %s, want %s", dockerfileFile, workdir, imageRoot)
	case !slices.Contains(copied, bin) || !slices.Contains(copied, lib):
		return fmt.Errorf("%s: copies %v from the build stage, want %s and %s", dockerfileFile, copied, bin, lib)
	case envLib != lib:
		return fmt.Errorf("%s: %s=%s, want %s", dockerfileFile, onnx.LibraryEnv, envLib, lib)
	}
	image := ""
	for _, j := range js {
		for _, c := range append(slices.Clip(j.init), j.containers...) {
			if !strings.Contains(strings.Join(c.argv, " "), bin) {
				continue
			}
			if image != "" && c.image != image {
				return fmt.Errorf("job %s, container %s: image %s, but another runs distill from %s", j.name, c.name, c.image, image)
			}
			image = c.image
			if v, ok := c.envValue(onnx.LibraryEnv); ok && v != lib {
				return fmt.Errorf("job %s, container %s: %s=%s, but the image has the library at %s", j.name, c.name, onnx.LibraryEnv, v, lib)
			}
		}
	}
	if image == "" {
		return fmt.Errorf("%s: no container runs %s", manifestFile, bin)
	}
	if !strings.Contains(readme, "-t "+image+" ") {
		return fmt.Errorf("%s: no build command tags the image %s (docker build ... -t %s .)", readmeFile, image, image)
	}
	return nil
}

// files is what the checks read: the manifest, the Dockerfile and the README of this directory.
type files struct{ manifest, dockerfile, readme string }

func readFiles(t *testing.T) files {
	t.Helper()
	var f files
	for _, x := range []struct {
		name string
		to   *string
	}{{manifestFile, &f.manifest}, {dockerfileFile, &f.dockerfile}, {readmeFile, &f.readme}} {
		b, err := os.ReadFile(x.name)
		if err != nil {
			t.Fatal(err)
		}
		*x.to = string(b)
	}
	return f
}

// verify is every check: the image, then the Jobs run locally.
func (cl *cluster) verify(ctx context.Context, root string, f files) (report, error) {
	if err := checkImage(f.manifest, f.dockerfile, f.readme); err != nil {
		return report{}, err
	}
	return cl.apply(ctx, root, f.manifest)
}

// TestDrift makes, in copies of the files, the edits that would break the cluster path, and
// checks that the same checks as TestJobs fail on each, for the reason named.
func TestDrift(t *testing.T) {
	if testing.Short() {
		t.Skip("runs distill several times; skipped with -short")
	}
	cl := newCluster(t)
	orig := readFiles(t)
	cases := []struct {
		name     string
		file     string // "manifest" or "dockerfile"
		old, new string // the edit: the first occurrence of old becomes new
		want     string // a word of the error
	}{
		{"flag renamed", "manifest", "--teacher ", "--teacher-model ", "flag provided but not defined: -teacher-model"},
		{"shard index from 1", "manifest", `--shard "${JOB_COMPLETION_INDEX}/`, `--shard "$((JOB_COMPLETION_INDEX+1))/`, "want i/n with 0 <= i < n"},
		{"every pod the same shard", "manifest", `--shard "${JOB_COMPLETION_INDEX}/`, `--shard "0/`, "overlap"},
		{"no shard flag", "manifest", "              --shard \"${JOB_COMPLETION_INDEX}/${SHARDS}\"\n", "", "overlap"},
		{"completions without SHARDS", "manifest", "completions: 4", "completions: 5", "SHARDS=4 but job distill-targets has completions 5"},
		{"merge glob of another count", "manifest", "part-*-of-4", "part-*-of-2", "part-*-of-2.safetensors: no such file"},
		{"parts not where the merge waits", "manifest", "--out \"/work/out/targets.part-", "--out \"/work/out/part-", "init container wait-for-parts"},
		{"volume mounted elsewhere", "manifest", "mountPath: /work}", "mountPath: /mnt/work}", "not under a volume mount"},
		{"no mkdir of the output folder", "manifest", "              mkdir -p /work/out &&\n", "", "out does not exist"},
		{"library moved in the image", "dockerfile", "/opt/distill/third_party/onnxruntime/cpu/libonnxruntime.so.1\n", "/opt/distill/lib/libonnxruntime.so.1\n", "copies"},
		{"image renamed", "manifest", "image: ghcr.io/distillgo/distill:latest", "image: ghcr.io/distillgo/distill:v1", "another runs distill"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := orig
			target := &f.manifest
			if tc.file == "dockerfile" {
				target = &f.dockerfile
			}
			if !strings.Contains(*target, tc.old) {
				t.Fatalf("%s no longer holds %q: update this case", tc.file, tc.old)
			}
			*target = strings.Replace(*target, tc.old, tc.new, 1)
			// The edited copy goes through a file, as the real one does.
			copyPath := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(copyPath, []byte(*target), 0o644); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(copyPath)
			if err != nil {
				t.Fatal(err)
			}
			*target = string(b)
			_, err = cl.verify(context.Background(), t.TempDir(), f)
			if err == nil {
				t.Fatalf("%s with %q for %q: the checks pass", tc.file, tc.new, tc.old)
			}
			t.Logf("fails as it should:\n%v", err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not say %q:\n%v", tc.want, err)
			}
		})
	}
}
