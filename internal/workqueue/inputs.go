package workqueue

// Inputs are the files the spec was read from: the spec itself and, when
// it names one, its items file (resolved against the spec's directory).
// jobwq build refuses to write over any of them.
func (w *WorkQueue) Inputs() []string {
	in := []string{w.Path}
	if w.itemsPath != "" {
		in = append(in, w.itemsPath)
	}
	return in
}
