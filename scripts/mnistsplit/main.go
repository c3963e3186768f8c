// Command mnistsplit splits an IDX image file and its labels (gzip or plain) at one sample into
// two pairs of plain IDX files, the first samples and the rest, so that scripts/paper.sh can
// train on one part and fit bias shifts on the other, held out:
//
//	go run ./scripts/mnistsplit --images train-images-idx3-ubyte.gz --labels train-labels-idx1-ubyte.gz \
//	    --at 55000 --out out/paper/split
//
// writes out/paper/split/{first,rest}-{images,labels}.idx. The samples keep their order.
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	images := flag.String("images", "", "IDX images `file` (gzip or plain)")
	labels := flag.String("labels", "", "IDX labels `file` of --images")
	at := flag.Int("at", 0, "the first `n` samples go to first-*, the rest to rest-*")
	out := flag.String("out", "", "output `folder` (created)")
	flag.Parse()
	if err := run(*images, *labels, *at, *out); err != nil {
		fmt.Fprintln(os.Stderr, "mnistsplit:", err)
		os.Exit(1)
	}
}

func run(images, labels string, at int, out string) error {
	if images == "" || labels == "" || out == "" || at < 1 {
		return errors.New("--images, --labels, --out and a positive --at are required")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, f := range []struct{ in, name string }{{images, "images"}, {labels, "labels"}} {
		dims, data, err := readIDX(f.in)
		if err != nil {
			return err
		}
		if at >= dims[0] {
			return fmt.Errorf("%s has %d samples: --at %d leaves none for the rest", f.in, dims[0], at)
		}
		per := len(data) / dims[0]
		first := append([]int{at}, dims[1:]...)
		rest := append([]int{dims[0] - at}, dims[1:]...)
		if err := writeIDX(filepath.Join(out, "first-"+f.name+".idx"), first, data[:at*per]); err != nil {
			return err
		}
		if err := writeIDX(filepath.Join(out, "rest-"+f.name+".idx"), rest, data[at*per:]); err != nil {
			return err
		}
	}
	return nil
}

// readIDX reads a uint8 IDX file (magic 0x00 0x00 0x08 <rank>), gzip-compressed or not.
func readIDX(path string) ([]int, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		r = gz
	}
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil || magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] == 0 {
		return nil, nil, fmt.Errorf("%s: not a uint8 IDX file", path)
	}
	dims := make([]int, magic[3])
	n := 1
	for i := range dims {
		var d uint32
		if err := binary.Read(r, binary.BigEndian, &d); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		dims[i] = int(d)
		n *= dims[i]
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return dims, data, nil
}

// writeIDX writes a plain uint8 IDX file, through a temporary file renamed into place.
func writeIDX(path string, dims []int, data []byte) error {
	b := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, data...), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
