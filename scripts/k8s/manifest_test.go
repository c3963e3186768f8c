package k8s

import (
	"errors"
	"fmt"
	"strconv"
)

// This file turns the parsed manifests into the few things a local run needs: each Job's
// completions, parallelism and completion mode, and each container's command line,
// environment and volume mounts. Fields the local run cannot honour (env valueFrom, a container
// without a command, a volume that is not a PersistentVolumeClaim) are errors, not ignored.

// job is one batch/v1 Job.
type job struct {
	name        string
	indexed     bool // completionMode: Indexed
	completions int  // spec.completions (default 1)
	parallelism int  // spec.parallelism (default 1)
	init        []container
	containers  []container
	claims      map[string]string // volume name -> PersistentVolumeClaim name
}

// container is one container of a Job's pod template.
type container struct {
	name  string
	image string
	argv  []string // command followed by args
	env   []envVar // in order
	mount []mount
}

type envVar struct{ name, value string }

// mount is a volumeMount: the volume's name, the claim it names and the mountPath.
type mount struct{ volume, claim, path string }

// jobs reads every document of a manifest file; each must be a batch/v1 Job.
func jobs(src string) ([]job, error) {
	docs, err := parseYAML(src)
	if err != nil {
		return nil, err
	}
	var out []job
	for i, d := range docs {
		j, err := readJob(d)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		out = append(out, j)
	}
	return out, nil
}

// field walks keys down from v and returns what it finds, or nil.
func field(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any, what string) (string, error) {
	if v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: want a scalar, got %T", what, v)
	}
	return s, nil
}

func list(v any, what string) ([]any, error) {
	if v == nil || v == "" {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a sequence, got %T", what, v)
	}
	return l, nil
}

// count reads a positive integer field, def when absent.
func count(v any, what string, def int) (int, error) {
	s, err := str(v, what)
	if err != nil || s == "" {
		return def, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s: want a positive integer, got %q", what, s)
	}
	return n, nil
}

func readJob(d any) (job, error) {
	var j job
	if api, _ := str(field(d, "apiVersion"), "apiVersion"); api != "batch/v1" {
		return j, fmt.Errorf("apiVersion %q: want batch/v1", api)
	}
	if kind, _ := str(field(d, "kind"), "kind"); kind != "Job" {
		return j, fmt.Errorf("kind %q: want Job", kind)
	}
	var err error
	if j.name, err = str(field(d, "metadata", "name"), "metadata.name"); err != nil || j.name == "" {
		return j, errors.Join(errors.New("a Job needs metadata.name"), err)
	}
	spec := field(d, "spec")
	mode, err := str(field(spec, "completionMode"), "spec.completionMode")
	if err != nil {
		return j, err
	}
	switch mode {
	case "Indexed":
		j.indexed = true
	case "", "NonIndexed":
	default:
		return j, fmt.Errorf("job %s: completionMode %q", j.name, mode)
	}
	if j.completions, err = count(field(spec, "completions"), "spec.completions", 1); err != nil {
		return j, fmt.Errorf("job %s: %w", j.name, err)
	}
	if j.parallelism, err = count(field(spec, "parallelism"), "spec.parallelism", 1); err != nil {
		return j, fmt.Errorf("job %s: %w", j.name, err)
	}
	pod := field(spec, "template", "spec")
	if pod == nil {
		return j, fmt.Errorf("job %s: no spec.template.spec", j.name)
	}
	vols, err := list(field(pod, "volumes"), "volumes")
	if err != nil {
		return j, fmt.Errorf("job %s: %w", j.name, err)
	}
	j.claims = map[string]string{}
	for _, v := range vols {
		name, _ := str(field(v, "name"), "volume name")
		claim, _ := str(field(v, "persistentVolumeClaim", "claimName"), "claimName")
		if name == "" || claim == "" {
			return j, fmt.Errorf("job %s: volume %v: want a name and a persistentVolumeClaim.claimName", j.name, v)
		}
		j.claims[name] = claim
	}
	for _, part := range []struct {
		key string
		to  *[]container
	}{{"initContainers", &j.init}, {"containers", &j.containers}} {
		cs, err := list(field(pod, part.key), part.key)
		if err != nil {
			return j, fmt.Errorf("job %s: %w", j.name, err)
		}
		for _, c := range cs {
			ct, err := readContainer(c, j.claims)
			if err != nil {
				return j, fmt.Errorf("job %s: %s: %w", j.name, part.key, err)
			}
			*part.to = append(*part.to, ct)
		}
	}
	if len(j.containers) == 0 {
		return j, fmt.Errorf("job %s: no containers", j.name)
	}
	return j, nil
}

func readContainer(c any, claims map[string]string) (container, error) {
	var ct container
	ct.name, _ = str(field(c, "name"), "name")
	ct.image, _ = str(field(c, "image"), "image")
	if ct.name == "" || ct.image == "" {
		return ct, fmt.Errorf("container %v: want a name and an image", c)
	}
	cmd, err := list(field(c, "command"), "command")
	if err != nil {
		return ct, fmt.Errorf("container %s: %w", ct.name, err)
	}
	if len(cmd) == 0 {
		// Without a command the image's entrypoint runs, which a local run cannot know.
		return ct, fmt.Errorf("container %s: no command", ct.name)
	}
	args, err := list(field(c, "args"), "args")
	if err != nil {
		return ct, fmt.Errorf("container %s: %w", ct.name, err)
	}
	for _, a := range append(cmd, args...) {
		s, err := str(a, "command")
		if err != nil {
			return ct, fmt.Errorf("container %s: %w", ct.name, err)
		}
		ct.argv = append(ct.argv, s)
	}
	env, err := list(field(c, "env"), "env")
	if err != nil {
		return ct, fmt.Errorf("container %s: %w", ct.name, err)
	}
	for _, e := range env {
		if field(e, "valueFrom") != nil {
			return ct, fmt.Errorf("container %s: env valueFrom is not supported", ct.name)
		}
		name, _ := str(field(e, "name"), "env name")
		value, err := str(field(e, "value"), "env value")
		if name == "" || err != nil {
			return ct, fmt.Errorf("container %s: env %v: want a name and a value", ct.name, e)
		}
		ct.env = append(ct.env, envVar{name, value})
	}
	mounts, err := list(field(c, "volumeMounts"), "volumeMounts")
	if err != nil {
		return ct, fmt.Errorf("container %s: %w", ct.name, err)
	}
	for _, m := range mounts {
		vol, _ := str(field(m, "name"), "mount name")
		path, _ := str(field(m, "mountPath"), "mountPath")
		if _, ok := claims[vol]; !ok || path == "" || path[0] != '/' {
			return ct, fmt.Errorf("container %s: volumeMount %v: want a volume of the pod and an absolute mountPath", ct.name, m)
		}
		if field(m, "subPath") != nil {
			return ct, fmt.Errorf("container %s: volumeMount subPath is not supported", ct.name)
		}
		ct.mount = append(ct.mount, mount{vol, claims[vol], path})
	}
	return ct, nil
}

// envValue returns the value of the environment variable name in c, and whether it is set.
func (c container) envValue(name string) (string, bool) {
	for _, e := range c.env {
		if e.name == name {
			return e.value, true
		}
	}
	return "", false
}
