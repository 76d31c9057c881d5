package version

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const rev = "0123456789abcdef0123456789abcdef01234567"

// vcs returns the build settings `go build` records in a git checkout.
func vcs(modified string) []debug.BuildSetting {
	return []debug.BuildSetting{
		{Key: "-trimpath", Value: "true"},
		{Key: "CGO_ENABLED", Value: "0"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: rev},
		{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
		{Key: "vcs.modified", Value: modified},
	}
}

func TestFromBuildInfo(t *testing.T) {
	tests := []struct {
		name     string
		release  string
		bi       *debug.BuildInfo
		want     Info
		wantText string
	}{
		{
			name:    "release build from a clean checkout",
			release: "v0.2.0",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8",
				Main:     debug.Module{Path: "github.com/jobwq/jobwq", Version: "v0.2.0"},
				Settings: vcs("false")},
			want: Info{Version: "v0.2.0", Revision: rev, Time: "2026-01-02T03:04:05Z",
				GoVersion: "go1.26.8", Platform: "linux/arm64"},
			wantText: "jobwq v0.2.0 (commit 0123456789ab, 2026-01-02T03:04:05Z) go1.26.8 linux/arm64",
		},
		{
			// The ldflags version wins over the pseudo-version Go derives.
			name:    "release build of an untagged commit",
			release: "v0.3.0-rc.1",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8",
				Main:     debug.Module{Path: "github.com/jobwq/jobwq", Version: "v0.0.0-20260102030405-0123456789ab"},
				Settings: vcs("false")},
			want: Info{Version: "v0.3.0-rc.1", Revision: rev, Time: "2026-01-02T03:04:05Z",
				GoVersion: "go1.26.8", Platform: "linux/arm64"},
			wantText: "jobwq v0.3.0-rc.1 (commit 0123456789ab, 2026-01-02T03:04:05Z) go1.26.8 linux/arm64",
		},
		{
			name: "go build in a checkout with uncommitted changes",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8",
				Main:     debug.Module{Path: "github.com/jobwq/jobwq", Version: "v0.0.0-20260102030405-0123456789ab+dirty"},
				Settings: vcs("true")},
			want: Info{Version: "v0.0.0-20260102030405-0123456789ab+dirty", Revision: rev,
				Time: "2026-01-02T03:04:05Z", Modified: true, GoVersion: "go1.26.8", Platform: "linux/arm64"},
			wantText: "jobwq v0.0.0-20260102030405-0123456789ab+dirty (commit 0123456789ab, 2026-01-02T03:04:05Z, modified) go1.26.8 linux/arm64",
		},
		{
			// Go before 1.24 left the main module at (devel) even with VCS info.
			name: "checkout build whose module version is (devel)",
			bi: &debug.BuildInfo{GoVersion: "go1.23.4",
				Main:     debug.Module{Path: "github.com/jobwq/jobwq", Version: "(devel)"},
				Settings: vcs("false")},
			want: Info{Version: Devel, Revision: rev, Time: "2026-01-02T03:04:05Z",
				GoVersion: "go1.23.4", Platform: "linux/arm64"},
			wantText: "jobwq devel (commit 0123456789ab, 2026-01-02T03:04:05Z) go1.23.4 linux/arm64",
		},
		{
			name: "go install of a tagged module version",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8",
				Main: debug.Module{Path: "github.com/jobwq/jobwq", Version: "v0.2.0"}},
			want:     Info{Version: "v0.2.0", GoVersion: "go1.26.8", Platform: "linux/arm64"},
			wantText: "jobwq v0.2.0 go1.26.8 linux/arm64",
		},
		{
			name: "go run, go test or -buildvcs=false",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8",
				Main:     debug.Module{Path: "github.com/jobwq/jobwq", Version: "(devel)"},
				Settings: []debug.BuildSetting{{Key: "-buildmode", Value: "exe"}}},
			want:     Info{Version: Devel, GoVersion: "go1.26.8", Platform: "linux/arm64"},
			wantText: "jobwq devel (no VCS information: built by go run or go test, or with -buildvcs=false) go1.26.8 linux/arm64",
		},
		{
			name:     "no build info at all",
			want:     Info{Version: Devel, GoVersion: "go1.26.8", Platform: "linux/arm64"},
			wantText: "jobwq devel (no VCS information: built by go run or go test, or with -buildvcs=false) go1.26.8 linux/arm64",
		},
		{
			name:     "release build without build info",
			release:  "v0.2.0",
			want:     Info{Version: "v0.2.0", GoVersion: "go1.26.8", Platform: "linux/arm64"},
			wantText: "jobwq v0.2.0 go1.26.8 linux/arm64",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fromBuildInfo(tt.release, tt.bi, "go1.26.8", "linux/arm64")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fromBuildInfo (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantText, got.String()); diff != "" {
				t.Errorf("String (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJSON(t *testing.T) {
	tests := []struct {
		name string
		info Info
		want string
	}{
		{
			name: "with VCS information",
			info: Info{Version: "v0.2.0", Revision: rev, Time: "2026-01-02T03:04:05Z", Modified: true,
				GoVersion: "go1.26.8", Platform: "linux/amd64"},
			want: `{"version":"v0.2.0","revision":"` + rev + `","time":"2026-01-02T03:04:05Z","modified":true,"go":"go1.26.8","platform":"linux/amd64"}`,
		},
		{
			name: "without",
			info: Info{Version: Devel, GoVersion: "go1.26.8", Platform: "darwin/arm64"},
			want: `{"version":"devel","go":"go1.26.8","platform":"darwin/arm64"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.info)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(b)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// The test binary itself: go test records no VCS information, and the
// running toolchain and platform must come through.
func TestGet(t *testing.T) {
	got := Get()
	if got.GoVersion != runtime.Version() {
		t.Errorf("GoVersion = %q, want %q", got.GoVersion, runtime.Version())
	}
	if want := runtime.GOOS + "/" + runtime.GOARCH; got.Platform != want {
		t.Errorf("Platform = %q, want %q", got.Platform, want)
	}
	if s := got.String(); strings.Contains(s, "(devel)") || !strings.HasPrefix(s, "jobwq ") {
		t.Errorf("String() = %q: want jobwq <version> ..., never (devel)", s)
	}
}

// TestRunnerImage: a release (by -X, or go install ...@version) writes its
// own runner image; anything else writes DevRunnerImage, whatever the
// commit, so a committed build stays what every development build builds.
func TestRunnerImage(t *testing.T) {
	for _, tt := range []struct{ version, want string }{
		{"v0.2.0", "ghcr.io/jobwq/jobwq:v0.2.0"},
		{"v0.3.0-rc.1", "ghcr.io/jobwq/jobwq:v0.3.0-rc.1"},
		{"v0.2.1-next", "ghcr.io/jobwq/jobwq:v0.2.1-next"}, // a goreleaser snapshot
		{Devel, DevRunnerImage},
		{"v0.0.0-20260102030405-0123456789ab", DevRunnerImage},
		{"v0.2.1-0.20260102030405-0123456789ab", DevRunnerImage},
		{"v0.0.0-20260102030405-0123456789ab+dirty", DevRunnerImage},
	} {
		if got := (Info{Version: tt.version}).RunnerImage(); got != tt.want {
			t.Errorf("RunnerImage of %s = %s, want %s", tt.version, got, tt.want)
		}
	}
}
