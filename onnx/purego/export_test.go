package purego

// SetMinRows sets the fewest rows a graph is run on (2, the batch-1 workaround) and returns a
// function that restores it; tests set 1 to show the fault the workaround avoids.
func SetMinRows(n int) (restore func()) {
	old := minRows
	minRows = n
	return func() { minRows = old }
}
