package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/image"
)

const imageDoc = `Build the jobwq runner image: the image spec.runner.image names, which runs
the seeding Job and supplies jobwq to the worker pods' init container.

No Docker and no base image are needed. Each image holds one static linux
jobwq-runner binary (the pod commands only: seed, work, status, retry,
install) at /jobwq (its entrypoint), /etc/passwd and /etc/group entries
for the numeric non-root user 10001 it runs as, and an empty /tmp. The
images of all platforms are gathered in one OCI image index. Timestamps come
from the commit time recorded in the binary, so the same binaries always
give the same digest.

--binary PATH, repeated, gives one static linux jobwq-runner binary per
platform (the full jobwq is accepted too); the platform is read from the
binary. Without --binary, the runners beside this jobwq are used, named as
a release's archives name them (jobwq-runner-linux-amd64,
jobwq-runner-linux-arm64): from an unpacked release archive, jobwq image
needs no flag but where to put the image, on any machine. Without those,
the running jobwq itself goes in, if it is a static linux binary (a go
install with cgo is not). A runner can also be built with:

  CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -o jobwq-runner-linux-arm64 ./cmd/jobwq-runner

--platform linux/amd64 (repeatable) keeps only those platforms' binaries.

--oci-layout DIR writes an OCI image layout whose one entry, tagged latest,
is the image index: skopeo reads it as oci:DIR, crane and podman too. umoci
(0.4) cannot choose a platform from an index: for it, write one platform
(--platform linux/amd64) and unpack DIR:latest. DIR is replaced if it is an
earlier layout and refused if it holds anything else. --push REF pushes to
a registry with the credentials of the Docker config (~/.docker/config.json,
$DOCKER_CONFIG, credential helpers), as docker login, podman login or crane
auth login write them.

On success the image's digest is printed on stdout: REF@sha256:... with
--push, ready for spec.runner.image, else sha256:....

Examples:
  jobwq image --oci-layout jobwq-image
  jobwq image --platform linux/amd64 --oci-layout amd64 && umoci unpack --image amd64:latest bundle
  jobwq image --binary jobwq-runner-linux-amd64 --binary jobwq-runner-linux-arm64 \
    --push registry.example.com/tools/jobwq:v0.2.0
  skopeo copy --all oci:jobwq-image docker://registry.example.com/tools/jobwq:v0.2.0`

func newImageCmd() *cobra.Command {
	var binaries, platforms []string
	var layoutDir, ref string
	cmd := &cobra.Command{
		Use:   "image [--binary PATH]... (--oci-layout DIR | --push REF)",
		Short: "Build the multi-arch runner image without Docker: an OCI layout or a push",
		Long:  imageDoc,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bins, err := imageBinaries(binaries, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if bins, err = onlyPlatforms(bins, platforms); err != nil {
				return err
			}
			idx, err := image.Build(bins)
			if err != nil {
				return fmt.Errorf("image: %w", err)
			}
			digest, err := idx.Digest()
			if err != nil {
				return fmt.Errorf("image: %w", err)
			}
			var platforms []string
			for _, b := range bins {
				platforms = append(platforms, b.Platform.String())
			}
			stderr := cmd.ErrOrStderr()
			fmt.Fprintf(stderr, "jobwq image: %s for %s\n", digest, strings.Join(platforms, ", "))
			out := digest.String()
			if layoutDir != "" {
				if err := image.WriteLayout(layoutDir, idx); err != nil {
					return fmt.Errorf("image: write %s: %w", layoutDir, err)
				}
				fmt.Fprintf(stderr, "jobwq image: wrote OCI layout %s (oci:%s, tagged %s)\n", layoutDir, layoutDir, image.LayoutTag)
				if len(bins) > 1 {
					fmt.Fprintf(stderr, "jobwq image: umoci unpacks one platform at a time: jobwq image --platform %s --oci-layout DIR\n", bins[0].Platform)
				}
			}
			if ref != "" {
				pinned, err := image.Push(cmd.Context(), ref, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain))
				if err != nil {
					return fmt.Errorf("image: %w", err)
				}
				fmt.Fprintf(stderr, "jobwq image: pushed %s\n", pinned)
				out = pinned
			}
			fmt.Fprintln(cmd.OutOrStdout(), out)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&binaries, "binary", nil, "a static linux jobwq binary to put in the image; repeat for each platform (default: the jobwq-runner-linux-* beside this jobwq, else the running jobwq)")
	cmd.Flags().StringArrayVar(&platforms, "platform", nil, "keep only this platform's binary, such as linux/amd64; repeatable")
	cmd.Flags().StringVar(&layoutDir, "oci-layout", "", "write the image as an OCI image layout in `DIR`")
	cmd.Flags().StringVar(&ref, "push", "", "push the image to the registry as `REF` (registry/repository:tag)")
	cmd.MarkFlagsOneRequired("oci-layout", "push")
	_ = cmd.MarkFlagDirname("oci-layout")
	return cmd
}

// imageBinaries inspects the binaries given, or those a release archive
// holds beside this jobwq, or the running executable; it refuses anything
// that is not a static linux build of jobwq.
func imageBinaries(paths []string, stderr io.Writer) ([]image.Binary, error) {
	if len(paths) == 0 {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("image: find own executable: %w", err)
		}
		if real, err := filepath.EvalSymlinks(self); err == nil {
			self = real
		}
		runners, err := image.Runners(filepath.Dir(self))
		if err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		if len(runners) == 0 {
			b, err := inspectJobwq(self)
			if err != nil {
				return nil, fmt.Errorf("image: the running jobwq cannot go in the image: %w; "+
					"pass a static linux jobwq with --binary, from a release's archive (jobwq-runner-linux-amd64, jobwq-runner-linux-arm64) or built with "+
					"CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -o jobwq-runner-linux-amd64 ./cmd/jobwq-runner", err)
			}
			return []image.Binary{b}, nil
		}
		fmt.Fprintf(stderr, "jobwq image: the runners beside %s: %s\n", self, strings.Join(runners, ", "))
		paths = runners
	}
	var bins []image.Binary
	for _, p := range paths {
		b, err := inspectJobwq(p)
		if err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		bins = append(bins, b)
	}
	return bins, nil
}

// onlyPlatforms keeps the binaries of the platforms asked for (all when
// none is), and refuses a platform none of them is for.
func onlyPlatforms(bins []image.Binary, platforms []string) ([]image.Binary, error) {
	if len(platforms) == 0 {
		return bins, nil
	}
	var kept []image.Binary
	for _, s := range platforms {
		want, err := v1.ParsePlatform(s)
		if err != nil {
			return nil, fmt.Errorf("--platform %s: %w", s, err)
		}
		i := slices.IndexFunc(bins, func(b image.Binary) bool { return b.Platform.Equals(*want) })
		if i < 0 {
			var have []string
			for _, b := range bins {
				have = append(have, b.Platform.String())
			}
			return nil, fmt.Errorf("--platform %s: no binary for it (have %s)", s, strings.Join(have, ", "))
		}
		kept = append(kept, bins[i])
	}
	return kept, nil
}

// inspectJobwq inspects a binary and checks that it is jobwq, so that a
// wrong file from a build directory is caught before it is published.
func inspectJobwq(path string) (image.Binary, error) {
	b, err := image.Inspect(path)
	if err != nil {
		return b, err
	}
	// Any module path, so that forks can publish their own. The runner
	// (cmd/jobwq-runner) is what the image is for; the full jobwq works
	// too, only larger and slower to start.
	if !strings.HasSuffix(b.Main, "/cmd/jobwq-runner") && !strings.HasSuffix(b.Main, "/cmd/jobwq") {
		return b, fmt.Errorf("%s: built from %s, not jobwq (.../cmd/jobwq-runner or .../cmd/jobwq)", path, b.Main)
	}
	return b, nil
}
