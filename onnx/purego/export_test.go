package purego

// SetGuardBiases turns the restoring of Gemm biases before each run (the batch-1 workaround) on
// or off and returns a function that restores the setting; tests turn it off to show the fault
// the workaround avoids.
func SetGuardBiases(on bool) (restore func()) {
	old := guardBiases
	guardBiases = on
	return func() { guardBiases = old }
}
