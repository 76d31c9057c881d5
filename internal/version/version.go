// Package version identifies a jobwq build, so that a bug report, a CI log
// or a pod's output says exactly which jobwq produced it.
//
// A release build stamps its version in at link time:
//
//	go build -ldflags "-X github.com/jobwq/jobwq/internal/version.release=v0.2.0" ./cmd/jobwq
//
// Any other build is identified by what the Go toolchain recorded in the
// binary: the module version (`go install ...@v0.2.0`, or the pseudo-version
// `go build` derives from the checkout), the VCS revision, its commit time and
// whether the tree had uncommitted changes. Builds that record none of that
// (`go run`, `go test`, `-buildvcs=false`) say so instead of printing a bare
// "(devel)". The runner image holds the same binary, so it reports the same.
package version

import (
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
)

// release is the release version, set by release builds with
// -ldflags "-X github.com/jobwq/jobwq/internal/version.release=vX.Y.Z".
var release string

// Devel is the version of a build that carries no version at all.
const Devel = "devel"

// runnerRepository is where the runner image of a release is pushed,
// set by release builds with -ldflags "-X
// github.com/jobwq/jobwq/internal/version.runnerRepository=ghcr.io/OWNER/REPO"
// (the repository the release is made from).
var runnerRepository = "ghcr.io/jobwq/jobwq"

// DevRunnerImage is the runner image a build that is no release writes
// into the Jobs by default: always the same, so that a tree built and
// committed by one development build is what any other builds (jobwq
// build --check in CI).
const DevRunnerImage = "ghcr.io/jobwq/jobwq:v0.1.0"

// rePseudo matches the versions Go derives for untagged commits
// (v0.0.0-20260102030405-0123456789ab), which name no image.
var rePseudo = regexp.MustCompile(`\d{14}-[0-9a-f]{12}$`)

// Info identifies one build of jobwq.
type Info struct {
	// Version is the release version, else the module version the Go
	// toolchain recorded, else Devel.
	Version string `json:"version"`
	// Revision is the full VCS commit hash, empty when not recorded.
	Revision string `json:"revision,omitempty"`
	// Time is the commit time (RFC 3339, UTC) of Revision.
	Time string `json:"time,omitempty"`
	// Modified reports uncommitted changes in the tree that was built.
	Modified bool `json:"modified,omitempty"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"go"`
	// Platform is GOOS/GOARCH of the binary.
	Platform string `json:"platform"`
}

// Get returns the Info of the running binary.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil // a binary built without module support
	}
	return fromBuildInfo(release, bi, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
}

// fromBuildInfo assembles an Info from the link-time release version (may be
// empty) and the build info (may be nil: a binary built without module
// support). goVersion and platform describe the running binary.
func fromBuildInfo(rel string, bi *debug.BuildInfo, goVersion, platform string) Info {
	info := Info{Version: rel, GoVersion: goVersion, Platform: platform}
	if bi == nil {
		if info.Version == "" {
			info.Version = Devel
		}
		return info
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	if info.Version == "" {
		info.Version = Devel
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// RunnerImage is the runner image this build writes into the Jobs by
// default: a release's own (the image its release pushed, tagged with its
// version), or DevRunnerImage for any other build.
func (i Info) RunnerImage() string {
	if i.Version == Devel || strings.Contains(i.Version, "+") || rePseudo.MatchString(i.Version) {
		return DevRunnerImage
	}
	return runnerRepository + ":" + i.Version
}

// String is the one line `jobwq version` prints, for example
//
//	jobwq v0.2.0 (commit 0123456789ab, 2026-01-02T03:04:05Z) go1.26.8 linux/amd64
//	jobwq devel (no VCS information: built by go run or go test, or with -buildvcs=false) go1.26.8 linux/amd64
func (i Info) String() string {
	var details []string
	switch {
	case i.Revision != "":
		details = append(details, "commit "+shortRevision(i.Revision))
		if i.Time != "" {
			details = append(details, i.Time)
		}
		if i.Modified {
			details = append(details, "modified")
		}
	case i.Version == Devel:
		details = append(details, "no VCS information: built by go run or go test, or with -buildvcs=false")
	}
	var b strings.Builder
	b.WriteString("jobwq ")
	b.WriteString(i.Version)
	if len(details) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(details, ", "))
		b.WriteString(")")
	}
	b.WriteString(" ")
	b.WriteString(i.GoVersion)
	b.WriteString(" ")
	b.WriteString(i.Platform)
	return b.String()
}

// shortRevision abbreviates a commit hash to the 12 characters Go's
// pseudo-versions use.
func shortRevision(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
