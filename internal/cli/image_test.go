package cli

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/jobwq/jobwq/internal/image"
)

func TestOnlyPlatforms(t *testing.T) {
	bins := []image.Binary{
		{Path: "jobwq-runner-linux-amd64", Platform: v1.Platform{OS: "linux", Architecture: "amd64"}},
		{Path: "jobwq-runner-linux-arm64", Platform: v1.Platform{OS: "linux", Architecture: "arm64"}},
	}
	for _, tt := range []struct {
		platforms []string
		want      string // the paths kept, or the error
	}{
		{nil, "jobwq-runner-linux-amd64 jobwq-runner-linux-arm64"},
		{[]string{"linux/arm64"}, "jobwq-runner-linux-arm64"},
		{[]string{"linux/arm64", "linux/amd64"}, "jobwq-runner-linux-arm64 jobwq-runner-linux-amd64"},
		{[]string{"linux/s390x"}, "--platform linux/s390x: no binary for it (have linux/amd64, linux/arm64)"},
	} {
		got, err := onlyPlatforms(bins, tt.platforms)
		var paths []string
		for _, b := range got {
			paths = append(paths, b.Path)
		}
		msg := strings.Join(paths, " ")
		if err != nil {
			msg = err.Error()
		}
		if msg != tt.want {
			t.Errorf("onlyPlatforms(%v) = %s, want %s", tt.platforms, msg, tt.want)
		}
	}
}
