package spec

import "github.com/jobwq/jobwq/internal/items"

// Items streams the spec's items in order, inline or from spec.itemsFile.
// A bad item ends the stream with a *position.Error naming its line.
func (w *WorkQueue) Items() items.Seq {
	if w.Spec.ItemsFile == "" {
		return items.List(w.Spec.Items)
	}
	return func(yield func(string, error) bool) {
		for it, err := range items.File(w.itemsPath) {
			if !yield(it, err) || err != nil {
				return
			}
		}
	}
}
