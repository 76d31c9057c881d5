package image_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/jobwq/jobwq/internal/image"
)

// probe builds testdata/probe, a small static program, for linux/goarch
// once per test binary.
func probe(t *testing.T, goarch string) string {
	t.Helper()
	probes.Lock()
	defer probes.Unlock()
	if p, ok := probes.paths[goarch]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "jobwq-image-probe-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "probe-"+goarch)
	goBuild(t, out, "./testdata/probe", "linux", goarch)
	probes.paths[goarch] = out
	return out
}

var probes = struct {
	sync.Mutex
	paths map[string]string
}{paths: map[string]string{}}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, p := range probes.paths {
		os.RemoveAll(filepath.Dir(p))
	}
	os.Exit(code)
}

// goBuild builds pkg statically for goos/goarch into out, as the release does.
func goBuild(t *testing.T, out, pkg, goos, goarch string, ldflags ...string) {
	t.Helper()
	args := []string{"build", "-trimpath", "-o", out}
	if len(ldflags) > 0 {
		args = append(args, "-ldflags", strings.Join(ldflags, " "))
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s for %s/%s: %v\n%s", pkg, goos, goarch, err, b)
	}
}

func inspect(t *testing.T, path string) image.Binary {
	t.Helper()
	b, err := image.Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInspect(t *testing.T) {
	amd64 := inspect(t, probe(t, "amd64"))
	arm64 := inspect(t, probe(t, "arm64"))
	for _, tt := range []struct {
		got  image.Binary
		want v1.Platform
	}{
		{amd64, v1.Platform{OS: "linux", Architecture: "amd64"}},
		{arm64, v1.Platform{OS: "linux", Architecture: "arm64"}},
	} {
		if diff := cmp.Diff(tt.want, tt.got.Platform); diff != "" {
			t.Errorf("%s: platform (-want +got):\n%s", tt.got.Path, diff)
		}
		if want := "github.com/jobwq/jobwq/internal/image/testdata/probe"; tt.got.Main != want {
			t.Errorf("%s: Main = %q, want %q", tt.got.Path, tt.got.Main, want)
		}
		if tt.got.Module != "github.com/jobwq/jobwq" {
			t.Errorf("%s: Module = %q", tt.got.Path, tt.got.Module)
		}
	}

	text := filepath.Join(t.TempDir(), "jobwq")
	if err := os.WriteFile(text, []byte("#!/bin/sh\necho not a binary\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	sh, err = filepath.EvalSymlinks(sh)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		wantErr string
		static  bool // errors.Is(err, ErrNotStatic)
	}{
		{name: "a script", path: text, wantErr: "not an ELF file", static: true},
		// Debian's shell is a dynamically linked C program.
		{name: "a dynamic executable", path: sh, wantErr: "dynamically linked (needs /lib", static: true},
		{name: "missing", path: filepath.Join(t.TempDir(), "nope"), wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := image.Inspect(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Inspect(%s) = %v, want an error containing %q", tt.path, err, tt.wantErr)
			}
			if got := errors.Is(err, image.ErrNotStatic); got != tt.static {
				t.Errorf("errors.Is(%v, ErrNotStatic) = %v, want %v", err, got, tt.static)
			}
		})
	}
}

// wantFiles is the whole file system of the image, in tar order.
var wantFiles = []string{
	"etc/", "etc/group", "etc/nsswitch.conf", "etc/passwd",
	"home/", "home/nonroot/", "jobwq", "tmp/",
}

func TestPushAndPull(t *testing.T) {
	bins := []image.Binary{inspect(t, probe(t, "arm64")), inspect(t, probe(t, "amd64"))}
	idx, err := image.Build(bins)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ref := u.Host + "/tools/jobwq:v0.0.0-test"

	pinned, err := image.Push(t.Context(), ref, idx)
	if err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if want := ref + "@" + d.String(); pinned != want {
		t.Errorf("Push returned %q, want %q", pinned, want)
	}

	// Pull it back by the returned reference and check all of it.
	r, err := name.ParseReference(pinned)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Index(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(pulled); err != nil {
		t.Fatalf("pulled index does not validate: %v", err)
	}
	checkIndex(t, pulled, map[string]string{"linux/amd64": bins[1].Path, "linux/arm64": bins[0].Path})
}

// checkIndex checks an image index as jobwq image builds it: OCI media
// types, one image per platform in platform order, each holding its binary.
func checkIndex(t *testing.T, idx v1.ImageIndex, binaries map[string]string) {
	t.Helper()
	mt, err := idx.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	if mt != types.OCIImageIndex {
		t.Errorf("index media type %s, want %s", mt, types.OCIImageIndex)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, desc := range im.Manifests {
		if desc.Platform == nil {
			t.Fatalf("manifest %s has no platform", desc.Digest)
		}
		platform := desc.Platform.String()
		platforms = append(platforms, platform)
		if desc.MediaType != types.OCIManifestSchema1 {
			t.Errorf("%s: manifest media type %s", platform, desc.MediaType)
		}
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkImage(t, platform, img, binaries[platform])
	}
	var want []string
	for p := range binaries {
		want = append(want, p)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, platforms); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
}

func checkImage(t *testing.T, platform string, img v1.Image, binary string) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Platform().String(); got != platform {
		t.Errorf("%s: config platform %s", platform, got)
	}
	if cf.Config.User != "10001:10001" {
		t.Errorf("%s: user %q, want 10001:10001", platform, cf.Config.User)
	}
	if diff := cmp.Diff([]string{"/jobwq"}, cf.Config.Entrypoint); diff != "" {
		t.Errorf("%s: entrypoint (-want +got):\n%s", platform, diff)
	}
	if len(cf.Config.Cmd) != 0 {
		t.Errorf("%s: cmd %q, want none", platform, cf.Config.Cmd)
	}
	// The probes carry no VCS information: the epoch stands in.
	if !cf.Created.Time.Equal(time.Unix(0, 0)) {
		t.Errorf("%s: created %s, want the Unix epoch", platform, cf.Created.Time)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%s: %d layers, want 1", platform, len(layers))
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("%s: layer media type %s", platform, mt)
	}
	files := readLayer(t, layers[0])
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if diff := cmp.Diff(wantFiles, names); diff != "" {
		t.Errorf("%s: files (-want +got):\n%s", platform, diff)
	}
	want, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		switch f.Name {
		case "jobwq":
			if sha256.Sum256(f.data) != sha256.Sum256(want) {
				t.Errorf("%s: /jobwq differs from %s", platform, binary)
			}
			if f.Mode != 0o755 || f.Uid != 0 {
				t.Errorf("%s: /jobwq mode %o uid %d, want 755 owned by root", platform, f.Mode, f.Uid)
			}
		case "tmp/":
			if f.Mode != 0o1777 {
				t.Errorf("%s: /tmp mode %o, want 1777", platform, f.Mode)
			}
		case "home/nonroot/":
			if f.Uid != 10001 || f.Gid != 10001 {
				t.Errorf("%s: /home/nonroot owned by %d:%d, want 10001:10001", platform, f.Uid, f.Gid)
			}
		case "etc/passwd":
			if !bytes.Contains(f.data, []byte("\nnonroot:x:10001:10001:")) {
				t.Errorf("%s: /etc/passwd has no user 10001:\n%s", platform, f.data)
			}
		}
		if !f.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: %s modified %s, want the Unix epoch", platform, f.Name, f.ModTime)
		}
	}
}

type tarFile struct {
	*tar.Header
	data []byte
}

func readLayer(t *testing.T, l v1.Layer) []tarFile {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var files []tarFile
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, tarFile{h, data})
	}
}

func TestWriteLayout(t *testing.T) {
	bins := []image.Binary{inspect(t, probe(t, "amd64")), inspect(t, probe(t, "arm64"))}
	idx, err := image.Build(bins)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	if err := image.WriteLayout(dir, idx); err != nil {
		t.Fatal(err)
	}
	// Again over itself: an earlier layout is replaced, not added to.
	if err := image.WriteLayout(dir, idx); err != nil {
		t.Fatal(err)
	}

	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	// index.json holds one entry, the index, tagged latest: tools that
	// read a layout by its directory alone (skopeo's oci:DIR) take it.
	type entry struct{ Name, Digest string }
	wantEntries := []entry{{"latest", want.String()}}
	var entries []entry
	for _, d := range im.Manifests {
		entries = append(entries, entry{d.Annotations["org.opencontainers.image.ref.name"], d.Digest.String()})
	}
	if diff := cmp.Diff(wantEntries, entries); diff != "" {
		t.Errorf("index.json (-want +got):\n%s", diff)
	}
	desc := im.Manifests[0]
	read, err := top.ImageIndex(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(read); err != nil {
		t.Fatalf("index read from the layout does not validate: %v", err)
	}
	checkIndex(t, read, map[string]string{"linux/amd64": bins[0].Path, "linux/arm64": bins[1].Path})

	// Blobs: exactly the index, two manifests, two configs, two layers.
	blobs, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != 7 {
		t.Errorf("%d blobs, want 7", len(blobs))
	}
	// Nothing left beside it.
	siblings, err := os.ReadDir(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(siblings) != 1 {
		t.Errorf("%d entries beside the layout, want only the layout", len(siblings))
	}
}

func TestWriteLayoutRefuses(t *testing.T) {
	idx, err := image.Build([]image.Binary{inspect(t, probe(t, "amd64"))})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keep := filepath.Join(dir, "precious.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = image.WriteLayout(dir, idx)
	if err == nil || !strings.Contains(err.Error(), "is not an OCI image layout; refusing to replace it") {
		t.Fatalf("WriteLayout over a directory of other files = %v, want a refusal", err)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "mine" {
		t.Errorf("the file in the refused directory changed: %q, %v", b, err)
	}

	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := image.WriteLayout(file, idx); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("WriteLayout over a file = %v, want an error", err)
	}
}

func TestDeterministic(t *testing.T) {
	amd64 := inspect(t, probe(t, "amd64"))
	arm64 := inspect(t, probe(t, "arm64"))
	digest := func(bins ...image.Binary) v1.Hash {
		t.Helper()
		idx, err := image.Build(bins)
		if err != nil {
			t.Fatal(err)
		}
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := digest(amd64, arm64)
	// Another build, binaries in the other order, from a copy elsewhere.
	copyPath := filepath.Join(t.TempDir(), "elsewhere")
	b, err := os.ReadFile(amd64.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, b, 0o700); err != nil {
		t.Fatal(err)
	}
	moved := amd64
	moved.Path = copyPath
	if again := digest(arm64, moved); again != first {
		t.Errorf("same binaries, different digests: %s then %s", first, again)
	}
	if single := digest(amd64); single == first {
		t.Errorf("one platform and two platforms gave the same digest %s", single)
	}
}

func TestBuildRecordsCommit(t *testing.T) {
	b := inspect(t, probe(t, "amd64"))
	b.Revision = "0123456789abcdef0123456789abcdef01234567"
	b.Version = "v0.2.0"
	b.Created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	idx, err := image.Build([]image.Binary{b})
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 1, 2, 2, 4, 5, 0, time.UTC); !cf.Created.Time.Equal(want) {
		t.Errorf("created %s, want the commit time %s", cf.Created.Time, want)
	}
	want := map[string]string{
		"org.opencontainers.image.title":       "jobwq",
		"org.opencontainers.image.description": "jobwq runner: the work-queue seeder and worker (jobwq seed, jobwq work, jobwq install)",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.source":      "https://github.com/jobwq/jobwq",
		"org.opencontainers.image.revision":    b.Revision,
		"org.opencontainers.image.version":     "v0.2.0",
	}
	if diff := cmp.Diff(want, cf.Config.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
}

func TestBuildRefusesTwoForOnePlatform(t *testing.T) {
	b := inspect(t, probe(t, "amd64"))
	_, err := image.Build([]image.Binary{b, b})
	if err == nil || !strings.Contains(err.Error(), "two binaries for linux/amd64") {
		t.Fatalf("Build = %v, want an error naming the platform", err)
	}
	if _, err := image.Build(nil); err == nil {
		t.Fatal("Build(nil) succeeded")
	}
}

func TestPushErrors(t *testing.T) {
	idx, err := image.Build([]image.Binary{inspect(t, probe(t, "amd64"))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := image.Push(t.Context(), "Not A Reference", idx); err == nil || !strings.Contains(err.Error(), `image reference "Not A Reference"`) {
		t.Errorf("Push to a bad reference = %v", err)
	}
	// Nothing listens on a closed server's address.
	srv := httptest.NewServer(registry.New())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	if _, err := image.Push(t.Context(), host+"/jobwq:v1", idx); err == nil || !strings.Contains(err.Error(), "push "+host+"/jobwq:v1") {
		t.Errorf("Push to a closed registry = %v", err)
	}
}
