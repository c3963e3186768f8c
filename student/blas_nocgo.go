//go:build !cgo

package student

import "errors"

// loadOpenBLAS always fails without cgo: the binary was built with CGO_ENABLED=0.
func loadOpenBLAS() (blasImpl, string, []string, error) {
	return nil, "", nil, errors.New("openblas needs cgo; this binary was built with CGO_ENABLED=0")
}
