package cli

import (
	"testing"

	"github.com/jobwq/jobwq/internal/workqueue"
)

// TestInitName: the name init writes is valid by the schema's rule, or
// my-batch; the rule is the schema's alone (workqueue.CheckName).
func TestInitName(t *testing.T) {
	for _, tt := range []struct{ dir, want string }{
		{"/work/batch", "batch"},
		{"/work/Image_Resize", "image-resize"},
		{"/work/nightly.reports", "nightly-reports"},
		{"/work/-x-", "x"},
		{"/work/2024-runs", "my-batch"},
		{"/work/" + "a234567890123456789012345678901234567890", "a234567890123456789012345678901234567890"},
		{"/work/" + "a2345678901234567890123456789012345678901", "my-batch"},
		{"/", "my-batch"},
	} {
		if got := initName(tt.dir); got != tt.want {
			t.Errorf("initName(%q) = %q, want %q", tt.dir, got, tt.want)
		}
		if err := workqueue.CheckName(initName(tt.dir)); err != nil {
			t.Errorf("initName(%q): %v", tt.dir, err)
		}
	}
	if err := workqueue.CheckName("Job_WQ"); err == nil {
		t.Error("CheckName(Job_WQ) passed")
	}
}
