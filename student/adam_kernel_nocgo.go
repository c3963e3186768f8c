//go:build !cgo || !amd64

package student

// adamLanes is 0: the vectorised C copy of adamGo is not built (no cgo, or not amd64).
var adamLanes = 0

// adamUpdate is adamGo.
func adamUpdate(x, g, m, v []float32, k adamCoeffs) { adamGo(x, g, m, v, k) }
