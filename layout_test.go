package jobwq_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/jobwq/jobwq/"

// allowedImports is the package graph of jobwq: for each package, the
// packages of this module it may import (its non-test files). Data flows
// one way: spec → items → render (CUE) → kustree → the CLI; manifests →
// policy → report; and the programs that run in pods (broker, local) sit
// beside it and know nothing of specs, CUE or kustomize. A package or an
// edge that is not listed fails TestImportGraph: add it here on purpose,
// or not at all.
var allowedImports = map[string][]string{
	"cmd/jobwq":                {"internal/cli"},
	"cmd/jobwq-runner":         {"internal/podcli"},
	"cue":                      nil,
	"schemas":                  nil,
	"internal/exitcode":        nil,
	"internal/position":        nil,
	"internal/position/cuepos": {"internal/position"},
	"internal/items":           {"internal/position"},
	"internal/workqueue":       {"internal/items", "internal/position", "internal/position/cuepos", "internal/version", "schemas"},
	"internal/generate":        {"cue", "internal/exitcode", "internal/items", "internal/workqueue"},
	"internal/kustree":         {"internal/position"},
	"internal/manifests":       {"internal/kustree", "internal/position"},
	"internal/policy":          {"internal/position", "internal/position/cuepos", "schemas"},
	"internal/report":          {"internal/policy", "internal/position", "internal/version"},
	"internal/itemcmd":         nil,
	"internal/broker":          {"internal/itemcmd", "internal/exitcode", "internal/items"},
	"internal/localrun":        {"internal/exitcode"},
	"internal/version":         nil,
	"internal/image":           nil,
	"internal/podcli":          {"internal/broker", "internal/itemcmd", "internal/exitcode", "internal/items", "internal/version"},
	"internal/cli": {
		"internal/broker", "internal/itemcmd", "internal/exitcode", "internal/image", "internal/items", "internal/kustree", "internal/localrun",
		"internal/manifests", "internal/policy", "internal/position", "internal/generate", "internal/report", "internal/podcli",
		"internal/workqueue", "internal/version",
	},
	// Test helpers for the real components.
	"internal/brokertest": nil,
	"internal/kubetest":   nil,
	// Packages of tests only, and their helpers.
	"":                     nil,
	"internal/conformance": nil,
	"internal/e2e":         {"internal/kubetest"},
	"internal/e2e/pause":   nil,
}

// testHarnesses are the packages any test may import: the real components.
var testHarnesses = []string{"internal/brokertest", "internal/kubetest"}

// allowedTestImports are the edges a package's tests (its _test.go files,
// in the package or beside it) have beyond allowedImports, the package
// itself and testHarnesses: tests that follow data through later stages
// on purpose. Anything else a test imports fails TestTestImportGraph as a
// non-test file would: a test reaching into an unrelated package is
// usually a test in the wrong place.
var allowedTestImports = map[string][]string{
	// The whole CLI, in-process, and the committed build.
	"": {"internal/cli", "internal/podcli", "internal/generate", "internal/items", "internal/kustree", "internal/workqueue"},
	// Items survive generate's chunks and kustomize's ConfigMaps byte for
	// byte.
	"internal/items": {"internal/generate", "internal/kustree"},
	// A real API server judges what generate and kustree write, and the
	// policy pack agrees with it.
	"internal/conformance": {"internal/generate", "internal/kustree", "internal/policy"},
}

// inPods are the packages the seeding and worker pods run (the runner
// binary): they must not link the CUE evaluator, kustomize or the
// Kubernetes API machinery, which cost every pod start time and memory
// (one worker process per item).
var inPods = []string{"cmd/jobwq-runner", "internal/podcli", "internal/broker", "internal/itemcmd", "internal/items", "internal/exitcode", "internal/position", "internal/version"}

var heavy = []string{"cuelang.org/", "sigs.k8s.io/kustomize/", "k8s.io/"}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func TestImportGraph(t *testing.T) {
	for _, line := range goList(t, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], strings.TrimSuffix(module, "/")), "/")
		allowed, known := allowedImports[pkg]
		if !known {
			t.Errorf("package %q is not in allowedImports: add it with the imports it may have", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, module)
			if ours && !slices.Contains(allowed, dep) {
				t.Errorf("%s imports %s, which the package graph does not allow", pkg, dep)
			}
		}
	}
}

// TestTestImportGraph holds the tests' imports to the same graph, with
// the edges allowedTestImports adds.
func TestTestImportGraph(t *testing.T) {
	for _, line := range goList(t, "-f", "{{.ImportPath}} {{join .TestImports \" \"}} {{join .XTestImports \" \"}}", "./...") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], strings.TrimSuffix(module, "/")), "/")
		allowed := slices.Concat(allowedImports[pkg], allowedTestImports[pkg], testHarnesses, []string{pkg})
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, module)
			if imp == strings.TrimSuffix(module, "/") {
				dep, ours = "", true
			}
			if ours && !slices.Contains(allowed, dep) {
				t.Errorf("the tests of %q import %s, which the package graph does not allow (allowedTestImports lists the edges tests may add)", pkg, dep)
			}
		}
	}
	for pkg := range allowedTestImports {
		if _, known := allowedImports[pkg]; !known {
			t.Errorf("allowedTestImports names %q, which allowedImports does not", pkg)
		}
	}
}

func TestPodPackagesStayLight(t *testing.T) {
	for _, pkg := range inPods {
		for _, dep := range goList(t, "-deps", "./"+pkg) {
			for _, h := range heavy {
				if strings.HasPrefix(dep, h) {
					t.Errorf("%s depends on %s: the programs in pods must not", pkg, dep)
				}
			}
		}
	}
}
