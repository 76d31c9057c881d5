package manifests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"sigs.k8s.io/kustomize/api/types"

	"github.com/jobwq/jobwq/internal/position"
)

// CheckLocal refuses a kustomization (in dir, or in a local directory it
// builds on) that refers to anything remote: kustomize would fetch a URL
// resource over HTTP and clone a git repository for a remote base, and a
// policy gate in CI must give the same answer offline, never running
// what a URL serves today. It reads the kustomization files only; it
// connects nowhere.
func CheckLocal(dir string) error {
	_, err := checkLocal(dir, map[string]bool{})
	return err
}

// checkLocal also returns what kustomize would warn of each kustomization
// it reads (deprecated fields), naming the file.
func checkLocal(dir string, seen map[string]bool) (warnings []string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if seen[abs] {
		return nil, nil
	}
	seen[abs] = true
	name := kustomizationFile(dir)
	if name == "" {
		return nil, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, readErr(name, err)
	}
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		// kustomize cannot read it either, so it fetches nothing; let it
		// say what is wrong.
		return nil, nil
	}
	if ws := k.CheckDeprecatedFields(); ws != nil {
		for _, w := range *ws {
			warnings = append(warnings, position.Display(name)+": "+strings.TrimPrefix(w, "# Warning: "))
		}
	}
	k.FixKustomization()
	for _, r := range references(&k) {
		if isRemote(r.ref) {
			return nil, unchecked(name, "%s %q is remote; jobwq policy never fetches: vendor it into the tree, or check what 'kubectl kustomize' built (kubectl kustomize %s | jobwq policy -)", r.field, r.ref, dir)
		}
	}
	var subs []string
	for _, r := range append(k.Resources, k.Components...) {
		sub := filepath.Join(dir, r)
		if fi, err := os.Stat(sub); err == nil && fi.IsDir() {
			subs = append(subs, sub)
		}
	}
	for _, sub := range subs {
		ws, err := checkLocal(sub, seen)
		if err != nil {
			return nil, err
		}
		warnings = append(warnings, ws...)
	}
	return warnings, nil
}

type reference struct{ field, ref string }

// references lists every string of a kustomization that kustomize reads
// as a path, a URL or a repository.
func references(k *types.Kustomization) []reference {
	var out []reference
	add := func(field string, refs ...string) {
		for _, r := range refs {
			if r != "" {
				out = append(out, reference{field, r})
			}
		}
	}
	add("resources", k.Resources...)
	add("bases", k.Bases...)
	add("components", k.Components...)
	add("crds", k.Crds...)
	add("configurations", k.Configurations...)
	add("generators", k.Generators...)
	add("transformers", k.Transformers...)
	add("validators", k.Validators...)
	for _, p := range k.PatchesStrategicMerge {
		add("patchesStrategicMerge", string(p))
	}
	for _, p := range k.Patches {
		add("patches.path", p.Path)
	}
	for _, p := range k.PatchesJson6902 {
		add("patchesJson6902.path", p.Path)
	}
	for _, r := range k.Replacements {
		add("replacements.path", r.Path)
	}
	add("openapi.path", k.OpenAPI["path"])
	kv := func(field string, s types.KvPairSources) {
		for _, f := range s.FileSources {
			// key=path or path
			if _, p, ok := strings.Cut(f, "="); ok {
				f = p
			}
			add(field+".files", f)
		}
		add(field+".envs", s.EnvSources...)
		add(field+".env", s.EnvSource)
	}
	for _, g := range k.ConfigMapGenerator {
		kv("configMapGenerator", g.KvPairSources)
	}
	for _, g := range k.SecretGenerator {
		kv("secretGenerator", g.KvPairSources)
	}
	for _, h := range k.HelmCharts {
		add("helmCharts.repo", h.Repo)
	}
	return out
}

// scpUser is the user@ of an scp-style git address, user@host:org/repo.
var scpUser = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@`)

// isRemote reports whether kustomize would fetch ref rather than read a
// local file: any URL (http, https, ssh, file and git:: forms alike),
// an scp-style git address, or a github.com path, which kustomize treats
// as a repository before it looks for a local directory of that name.
func isRemote(ref string) bool {
	s := strings.ToLower(strings.TrimSpace(ref))
	s = strings.TrimPrefix(s, "git::")
	return strings.Contains(s, "://") || scpUser.MatchString(s) ||
		strings.HasPrefix(s, "github.com/") || strings.HasPrefix(s, "github.com:")
}
