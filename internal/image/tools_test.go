package image_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"sigs.k8s.io/yaml"

	"github.com/jobwq/jobwq/internal/image"
)

// needTool returns the path of a program the test needs. A missing one
// fails the test, never skips it: a test that quietly skips its readers
// proves nothing about the image. .ci/run installs them.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required to read the image back: apt-get install -y skopeo umoci (.ci/run does): %v", name, err)
	}
	return p
}

// jobwqBinary builds jobwq for this platform as the release does (static,
// -trimpath, a release version), once per test binary.
func jobwqBinary(t *testing.T) string {
	t.Helper()
	jobwqBuild.Do(func() {
		modRoot := strings.TrimSpace(string(run(t, ".", "go", "list", "-m", "-f", "{{.Dir}}")))
		dir, err := os.MkdirTemp("", "jobwq-image-jobwq-")
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "jobwq")
		goBuild(t, out, filepath.Join(modRoot, "cmd", "jobwq"), "linux", runtime.GOARCH,
			"-X github.com/jobwq/jobwq/internal/version.release=v0.0.0-imagetest")
		jobwqBuild.path = out
	})
	if jobwqBuild.path == "" {
		t.Fatal("building jobwq failed in an earlier test")
	}
	return jobwqBuild.path
}

var jobwqBuild struct {
	sync.Once
	path string
}

// TestPushWithDockerConfig runs jobwq image --push as a user would, against
// a registry that demands the credentials of a Docker config file.
func TestPushWithDockerConfig(t *testing.T) {
	jobwq := jobwqBinary(t)
	const user, password = "ci-bot", "s3cret"
	var authorized atomic.Int32
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		authorized.Add(1)
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	dir := t.TempDir()
	dockerConfig := filepath.Join(dir, "docker")
	if err := os.Mkdir(dockerConfig, 0o700); err != nil {
		t.Fatal(err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	if err := os.WriteFile(filepath.Join(dockerConfig, "config.json"),
		[]byte(`{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}

	ref := host + "/tools/jobwq:v0.0.0-imagetest"
	cmd := exec.Command(jobwq, "image", "--push", ref)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dockerConfig)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jobwq image --push: %v\n%s", err, stderr.Bytes())
	}
	if authorized.Load() == 0 {
		t.Fatal("the registry saw no request with the Docker config's credentials")
	}
	// The same binary gives the same digest, whether pushed or written.
	digest := strings.TrimSpace(string(run(t, dir, jobwq, "image", "--oci-layout", "oci")))
	if got, want := strings.TrimSpace(string(out)), ref+"@"+digest; got != want {
		t.Errorf("jobwq image --push printed %q, want %q", got, want)
	}

	pulled, err := remote.Index(mustParse(t, ref), remote.WithAuth(&authn.Basic{Username: user, Password: password}))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := pulled.Digest(); err != nil || d.String() != digest {
		t.Errorf("the registry holds %v (%v) at %s, want %s", d, err, ref, digest)
	}

	// Without the credentials the push fails with exit status 2 and one line.
	cmd = exec.Command(jobwq, "image", "--push", ref)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
	stderr.Reset()
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("jobwq image --push without credentials: %v, want exit status 2", err)
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "jobwq image: sha256:") || !strings.HasPrefix(lines[1], "jobwq: image: push "+ref+": ") {
		t.Errorf("stderr without credentials:\n%s\nwant the digest line, then one error line naming the push", stderr.Bytes())
	}
}

func mustParse(t *testing.T, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func run(t *testing.T, dir, prog string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// TestLayoutReadByOtherTools is what a user does: build a static jobwq as
// the release does, let it write its own image as an OCI layout, and read
// that with skopeo and umoci. The binary umoci unpacks must run and report
// the same version as the binary that went in.
func TestLayoutReadByOtherTools(t *testing.T) {
	skopeo := needTool(t, "skopeo")
	umoci := needTool(t, "umoci")

	dir := t.TempDir()
	jobwq := jobwqBinary(t)
	wantVersion := string(run(t, dir, jobwq, "version"))
	if !strings.HasPrefix(wantVersion, "jobwq v0.0.0-imagetest ") {
		t.Fatalf("jobwq version = %q, want the release version set by -X", wantVersion)
	}

	// No --binary: the running jobwq, a static linux binary, goes in.
	digest := strings.TrimSpace(string(run(t, dir, jobwq, "image", "--oci-layout", "oci")))

	var inspected struct {
		Digest       string
		Architecture string
		Os           string
		Layers       []string
	}
	// Plain references: the layout's one entry, by its directory alone.
	if err := json.Unmarshal(run(t, dir, skopeo, "inspect", "oci:oci"), &inspected); err != nil {
		t.Fatal(err)
	}
	if inspected.Digest != digest || inspected.Architecture != runtime.GOARCH || inspected.Os != "linux" || len(inspected.Layers) != 1 {
		t.Errorf("skopeo inspect: %+v, want digest %s, linux/%s, one layer", inspected, digest, runtime.GOARCH)
	}
	var config struct {
		Config struct {
			User       string
			Entrypoint []string
		} `json:"config"`
	}
	if err := json.Unmarshal(run(t, dir, skopeo, "inspect", "--config", "oci:oci"), &config); err != nil {
		t.Fatal(err)
	}
	if config.Config.User != "10001:10001" || !cmp.Equal(config.Config.Entrypoint, []string{"/jobwq"}) {
		t.Errorf("skopeo inspect --config: %+v, want user 10001:10001 and entrypoint /jobwq", config.Config)
	}

	unpackAndRun(t, umoci, dir, "oci:"+image.LayoutTag, "bundle", wantVersion)

	// A multi-arch layout: this platform's jobwq beside a small program for
	// another one (a second 48 MB cross build would only cost time). skopeo
	// picks this platform from the index, given the directory alone.
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	self, err := image.Inspect(jobwq)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := image.Build([]image.Binary{self, inspect(t, probe(t, other))})
	if err != nil {
		t.Fatal(err)
	}
	if err := image.WriteLayout(filepath.Join(dir, "multi"), idx); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Manifests []struct{ Platform struct{ Architecture string } }
	}
	if err := json.Unmarshal(run(t, dir, skopeo, "inspect", "--raw", "oci:multi"), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Manifests) != 2 {
		t.Errorf("skopeo inspect --raw: %d manifests in the index, want 2", len(raw.Manifests))
	}
	inspected.Architecture = ""
	if err := json.Unmarshal(run(t, dir, skopeo, "inspect", "oci:multi"), &inspected); err != nil {
		t.Fatal(err)
	}
	if inspected.Architecture != runtime.GOARCH {
		t.Errorf("skopeo inspect of the multi-arch layout chose %s, want %s", inspected.Architecture, runtime.GOARCH)
	}
	var index struct {
		Manifests []struct{ Annotations map[string]string }
	}
	b, err := os.ReadFile(filepath.Join(dir, "multi", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != image.LayoutTag {
		t.Errorf("index.json holds %+v, want one entry, tagged %s", index.Manifests, image.LayoutTag)
	}
}

// TestReleaseArchiveImage unpacks what a release archive holds (jobwq and
// the runners for linux/amd64 and linux/arm64, named as .goreleaser.yaml
// names them) on a machine with cgo, where jobwq itself is a dynamic build
// that cannot go in the image: jobwq image takes the runners beside it, no
// --binary needed, and skopeo and umoci read what it writes by plain
// references.
func TestReleaseArchiveImage(t *testing.T) {
	skopeo := needTool(t, "skopeo")
	umoci := needTool(t, "umoci")
	modRoot := strings.TrimSpace(string(run(t, ".", "go", "list", "-m", "-f", "{{.Dir}}")))
	runners := releaseRunners(t, filepath.Join(modRoot, ".goreleaser.yaml"))

	archive := t.TempDir()
	jobwq := filepath.Join(archive, "jobwq")
	cmd := exec.Command("go", "build", "-o", jobwq, filepath.Join(modRoot, "cmd", "jobwq"))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build with cgo: %v\n%s", err, b)
	}
	if _, err := image.Inspect(jobwq); !errors.Is(err, image.ErrNotStatic) {
		t.Fatalf("jobwq built with cgo: %v, want a dynamic binary (is there a C compiler?)", err)
	}
	const version = "v0.0.0-archivetest"
	for _, arch := range []string{"amd64", "arm64"} {
		name, ok := runners[arch]
		if !ok {
			t.Fatalf(".goreleaser.yaml puts no runner for linux/%s in the archives", arch)
		}
		if want := image.RunnerName(v1.Platform{OS: "linux", Architecture: arch}); name != want {
			t.Fatalf(".goreleaser.yaml names the linux/%s runner %s, jobwq image looks for %s", arch, name, want)
		}
		goBuild(t, filepath.Join(archive, name), filepath.Join(modRoot, "cmd", "jobwq-runner"), "linux", arch,
			"-X github.com/jobwq/jobwq/internal/version.release="+version)
	}

	dir := t.TempDir()
	run(t, dir, jobwq, "image", "--oci-layout", "both")
	var raw struct {
		Manifests []struct{ Platform struct{ Architecture string } }
	}
	if err := json.Unmarshal(run(t, dir, skopeo, "inspect", "--raw", "oci:both"), &raw); err != nil {
		t.Fatal(err)
	}
	var archs []string
	for _, m := range raw.Manifests {
		archs = append(archs, m.Platform.Architecture)
	}
	if diff := cmp.Diff([]string{"amd64", "arm64"}, archs); diff != "" {
		t.Errorf("the image's platforms (-want +got):\n%s", diff)
	}
	// umoci unpacks one platform: this machine's, its runner reports the
	// release's version.
	run(t, dir, jobwq, "image", "--platform", "linux/"+runtime.GOARCH, "--oci-layout", "one")
	wantVersion := string(run(t, dir, filepath.Join(archive, runners[runtime.GOARCH]), "version"))
	if !strings.HasPrefix(wantVersion, "jobwq "+version+" ") {
		t.Fatalf("the runner's version: %q, want %s", wantVersion, version)
	}
	unpackAndRun(t, umoci, dir, "one:"+image.LayoutTag, "bundle", wantVersion)
}

// releaseRunners reads the runner binaries a release's archives hold, by
// architecture, from the goreleaser configuration: the jobwq-runner
// build's binary name for linux, which the archives must list.
func releaseRunners(t *testing.T, config string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Builds []struct {
			ID     string
			Binary string
			Goos   []string
			Goarch []string
		}
		Archives []struct {
			Files []json.RawMessage
		}
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, a := range cfg.Archives {
		for _, f := range a.Files {
			var name string
			var entry struct{ Src string }
			if json.Unmarshal(f, &name) != nil && json.Unmarshal(f, &entry) == nil {
				name = entry.Src
			}
			files = append(files, name)
		}
	}
	out := map[string]string{}
	for _, bd := range cfg.Builds {
		if bd.ID != "jobwq-runner" {
			continue
		}
		for _, arch := range bd.Goarch {
			name := strings.NewReplacer("{{ .Os }}", "linux", "{{ .Arch }}", arch).Replace(bd.Binary)
			if !slices.ContainsFunc(files, func(f string) bool { return path.Base(f) == name }) {
				t.Errorf("the archives of .goreleaser.yaml do not hold %s (files: %v)", name, files)
			}
			out[arch] = name
		}
	}
	return out
}

// unpackAndRun unpacks ref with umoci into dir/bundle, checks the runtime
// config umoci derives from the image, and runs the unpacked jobwq version.
func unpackAndRun(t *testing.T, umoci, dir, ref, bundle, wantVersion string) {
	t.Helper()
	args := []string{"unpack", "--image", ref}
	if os.Geteuid() != 0 {
		args = append(args, "--rootless")
	}
	run(t, dir, umoci, append(args, bundle)...)
	var config struct {
		Process struct {
			User struct{ UID, GID int }
			Args []string
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &config); err != nil {
		t.Fatal(err)
	}
	if config.Process.User.UID != 10001 || config.Process.User.GID != 10001 || !cmp.Equal(config.Process.Args, []string{"/jobwq"}) {
		t.Errorf("umoci unpack %s: process %+v, want uid and gid 10001 running /jobwq", ref, config.Process)
	}
	got := string(run(t, dir, filepath.Join(dir, bundle, "rootfs", "jobwq"), "version"))
	if diff := cmp.Diff(wantVersion, got); diff != "" {
		t.Errorf("umoci unpack %s: version of the unpacked binary (-want +got):\n%s", ref, diff)
	}
}

// TestReleaseWritesItsRunnerImage: a release build's Jobs run the runner
// image of that release (a development build's, the fixed one the
// committed build holds: TestCommittedBuildIsCurrent).
func TestReleaseWritesItsRunnerImage(t *testing.T) {
	jobwq := jobwqBinary(t)
	dir := t.TempDir()
	spec := "apiVersion: jobwq.dev/v1alpha1\nkind: WorkQueue\nmetadata: {name: rel}\nspec:\n  items: [a]\n  worker: {image: \"w:1\", command: [cat]}\n"
	if err := os.WriteFile(filepath.Join(dir, "workqueue.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	const want = "image: ghcr.io/jobwq/jobwq:v0.0.0-imagetest"
	for _, variant := range []string{"statefulset", "indexed"} {
		out := string(run(t, dir, jobwq, "render", ".", "--variant", variant))
		if !strings.Contains(out, want) || strings.Contains(out, "ghcr.io/jobwq/jobwq:v0.1.0") {
			t.Errorf("jobwq render --variant %s of a release build: want its own runner image (%s):\n%s", variant, want, out)
		}
	}
	if schema := string(run(t, dir, jobwq, "schema")); !strings.Contains(schema, `"default": "ghcr.io/jobwq/jobwq:v0.0.0-imagetest"`) {
		t.Error("jobwq schema of a release build does not give its own runner image as the default")
	}
}
