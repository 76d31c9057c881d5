package generate

import (
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/yaml"

	"github.com/jobwq/jobwq/internal/exitcode"
	"github.com/jobwq/jobwq/internal/items"
	"github.com/jobwq/jobwq/internal/workqueue"
)

var update = flag.Bool("update", false, "rewrite golden files")

func loadSpec(t testing.TB, path string) (*workqueue.WorkQueue, *items.Set) {
	t.Helper()
	w, err := workqueue.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	set, err := items.Collect(w.Items())
	if err != nil {
		t.Fatal(err)
	}
	return w, set
}

// TestTreeGolden renders specs that set every optional field (full: the
// queue and broker; pods: the pod options, an extended resource and Kueue;
// external: a broker the team runs) and compares each tree with
// testdata/<case>/golden (refresh with -update).
func TestTreeGolden(t *testing.T) {
	for _, c := range []string{"full", "pods", "external"} {
		t.Run(c, func(t *testing.T) { treeGolden(t, c) })
	}
}

func treeGolden(t *testing.T, c string) {
	w, set := loadSpec(t, filepath.Join("testdata", c, "workqueue.yaml"))
	files, err := Tree(w, set)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", c, "golden")
	if *update {
		if err := os.RemoveAll(golden); err != nil {
			t.Fatal(err)
		}
		for _, p := range slices.Sorted(maps.Keys(files)) {
			dst := filepath.Join(golden, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, files[p], 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	onDisk := map[string]string{}
	err = filepath.WalkDir(golden, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(golden, p)
		onDisk[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for p, b := range files {
		got[p] = string(b)
	}
	if diff := cmp.Diff(onDisk, got); diff != "" {
		t.Errorf("tree differs from %s (-golden +got); run go test -update if intended:\n%s", golden, diff)
	}
}

// TestTreeParses checks every rendered YAML file parses and that the
// worker Job's completions come from the items.
func TestTreeParses(t *testing.T) {
	w, set := loadSpec(t, "testdata/full/workqueue.yaml")
	files, err := Tree(w, set)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if !strings.HasSuffix(p, ".yaml") {
			continue
		}
		for _, doc := range strings.Split(string(files[p]), "\n---\n") {
			var v map[string]any
			if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
	}
	var job struct {
		Metadata struct{ Name string }
		Spec     struct{ Completions, Parallelism int }
	}
	if err := yaml.Unmarshal(files["base/work-job.yaml"], &job); err != nil {
		t.Fatal(err)
	}
	if job.Spec.Completions != 3 || job.Spec.Parallelism != 3 {
		t.Errorf("completions/parallelism = %d/%d, want 3/3 (parallelism capped at the item count)", job.Spec.Completions, job.Spec.Parallelism)
	}
	runID, _ := RunID(w, set)
	if want := "thumbs-work-" + runID; job.Metadata.Name != want {
		t.Errorf("worker Job name = %q, want %q", job.Metadata.Name, want)
	}
}

// TestFatalExitCodes ties the Jobs' podFailurePolicy to the statuses that
// jobwq seed and jobwq work end with: a Job fails at once exactly on the
// codes internal/exitcode calls fatal, for the container that runs them.
func TestFatalExitCodes(t *testing.T) {
	w, set := loadSpec(t, "testdata/full/workqueue.yaml")
	files, err := Tree(w, set)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		file, container string
		want            []int
	}{
		{"base/seed-job.yaml", "seed", exitcode.SeedFatal},
		{"base/work-job.yaml", "worker", exitcode.WorkFatal},
	} {
		var job batchv1.Job
		if err := yaml.UnmarshalStrict(files[tt.file], &job); err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		var got []int
		for _, r := range job.Spec.PodFailurePolicy.Rules {
			if r.Action != batchv1.PodFailurePolicyActionFailJob || r.OnExitCodes == nil {
				continue
			}
			if r.OnExitCodes.ContainerName == nil || *r.OnExitCodes.ContainerName != tt.container {
				t.Errorf("%s: FailJob rule for container %v, want %s", tt.file, r.OnExitCodes.ContainerName, tt.container)
			}
			for _, c := range r.OnExitCodes.Values {
				got = append(got, int(c))
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: exit codes that fail the Job (-exitcode +rendered):\n%s", tt.file, diff)
		}
	}
}

func TestRunID(t *testing.T) {
	base := func() *workqueue.WorkQueue {
		w, _ := loadSpec(t, "testdata/full/workqueue.yaml")
		return w
	}
	id := func(w *workqueue.WorkQueue) string {
		set, err := items.Collect(w.Items())
		if err != nil {
			t.Fatal(err)
		}
		s, err := RunID(w, set)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ref := id(base())
	if len(ref) != 10 {
		t.Fatalf("run id %q is not 10 characters", ref)
	}
	if got := id(base()); got != ref {
		t.Fatalf("run id is not deterministic: %s then %s", ref, got)
	}
	changes := map[string]func(*workqueue.WorkQueue){
		"items":   func(w *workqueue.WorkQueue) { w.Spec.ItemsFile = ""; w.Spec.Items = []string{"other"} },
		"image":   func(w *workqueue.WorkQueue) { w.Spec.Worker.Image = "registry.example.com/w:v9" },
		"command": func(w *workqueue.WorkQueue) { w.Spec.Worker.Command = []string{"/bin/other"} },
		"labels":  func(w *workqueue.WorkQueue) { w.Metadata.Labels = map[string]string{"team": "other"} },
		"queue":   func(w *workqueue.WorkQueue) { w.Spec.Queue.Name = "other" },
	}
	for name, change := range changes {
		w := base()
		change(w)
		if got := id(w); got == ref {
			t.Errorf("changing %s kept run id %s", name, ref)
		}
	}
	w := base()
	w.Spec.Worker.Parallelism = 99
	if got := id(w); got != ref {
		t.Errorf("changing parallelism changed run id %s to %s; a Job may change parallelism in place", ref, got)
	}
}

// TestBrokerConfig: the broker's alarms follow its memory limit and its
// volume, as the generated rabbitmq.conf states them.
func TestBrokerConfig(t *testing.T) {
	const gi = 1 << 30
	for _, tt := range []struct {
		name            string
		memory, storage workqueue.Quantity
		watermark, disk int64
	}{
		{"defaults", "1Gi", "1Gi", 644245094, gi / 10},
		{"large volume", "4Gi", "100Gi", 2576980377, 10 * gi},
		{"small volume: at least 48 MiB", "512Mi", "200Mi", 322122547, 48 << 20},
		{"tiny volume: at most half", "512Mi", "64Mi", 322122547, 32 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := workqueue.Broker{
				Resources: workqueue.Resources{Limits: map[string]workqueue.Quantity{"memory": tt.memory}},
				Storage:   workqueue.Storage{Size: tt.storage},
			}
			got, err := brokerConfigOf(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(brokerConfig{tt.watermark, tt.disk}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	w, set := loadSpec(t, "testdata/full/workqueue.yaml")
	files, err := Tree(w, set)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(files["base/rabbitmq.conf"])
	for _, want := range []string{
		"\nconsumer_timeout = 150000\n",                     // timeout 90s + 60s
		"\nvm_memory_high_watermark.absolute = 644245094\n", // 60% of the 1Gi default
		"\ndisk_free_limit.absolute = 1073741824\n",         // a tenth of 10Gi
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("rabbitmq.conf lacks %q:\n%s", strings.TrimSpace(want), conf)
		}
	}
}

// TestExternalJobs: a spec with an external broker has no base Jobs, and
// Jobs reads them from the external overlay (what jobwq run --local and
// jobwq status use), pointed at the external broker.
func TestExternalJobs(t *testing.T) {
	w, set := loadSpec(t, "testdata/external/workqueue.yaml")
	files, err := Tree(w, set)
	if err != nil {
		t.Fatal(err)
	}
	r := &Rendered{Spec: w, Items: set, Files: files}
	seed, work, err := r.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	if seed.Spec.Template.Spec.Containers[0].Name != "seed" || work.Spec.Template.Spec.Containers[0].Name != "worker" {
		t.Fatalf("Jobs() = %s, %s", seed.Name, work.Name)
	}
	env := map[string]string{}
	for _, e := range work.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	want := map[string]string{"BROKER_HOST": "rabbitmq.messaging.svc.cluster.local", "BROKER_PORT": "5671", "BROKER_VHOST": "finance", "BROKER_TLS": "true", "BROKER_USERNAME": "", "BROKER_PASSWORD": ""}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("worker env (-want +got):\n%s", diff)
	}
	if got := VariantsOf(w); !slices.Equal(got, []string{"external", "indexed"}) {
		t.Errorf("VariantsOf = %v", got)
	}
	for p := range files {
		if strings.HasPrefix(p, "overlays/") && !strings.HasPrefix(p, "overlays/external/") && !strings.HasPrefix(p, "overlays/indexed/") {
			t.Errorf("an external broker's tree has %s", p)
		}
		if p == "base/rabbitmq.conf" || p == "base/kustomization.yaml" {
			t.Errorf("an external broker's tree has %s", p)
		}
	}
}

// TestKueueSeedsInWorkers: under Kueue a run is one workload. No variant
// has a seeding Job (a second workload could be starved of quota by the
// workers waiting for it); the worker pods seed first, in an init
// container with the seeding Job's own arguments, and Jobs gives that
// step to a local run as the seeding Job it replaces.
func TestKueueSeedsInWorkers(t *testing.T) {
	w, set := loadSpec(t, "testdata/pods/workqueue.yaml")
	if w.Spec.Kueue == nil {
		t.Fatal("testdata/pods has no spec.kueue: the test proves nothing")
	}
	files, err := Tree(w, set)
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range files {
		if strings.Contains(string(b), "component: seeder") {
			t.Errorf("%s has a seeder object under Kueue", p)
		}
	}
	r := &Rendered{Spec: w, Items: set, Files: files}
	seed, work, err := r.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	init := work.Spec.Template.Spec.InitContainers
	if len(init) != 2 || init[1].Name != "seed" {
		t.Fatalf("worker init containers: %v, want install-jobwq then seed", init)
	}
	if got := seed.Spec.Template.Spec.Containers; len(got) != 1 || !cmp.Equal(got[0], init[1]) {
		t.Errorf("Jobs() seeding step differs from the worker's seed init container:\n%s", cmp.Diff(init[1], got[0]))
	}
	if work.Annotations["kueue.x-k8s.io/job-min-parallelism"] != "1" {
		t.Errorf("worker Job annotations %v: want partial admission down to one pod", work.Annotations)
	}

	// The same spec without Kueue keeps its seeding Job, with the same
	// container.
	w.Spec.Kueue = nil
	plain, err := Tree(w, set)
	if err != nil {
		t.Fatal(err)
	}
	pseed, pwork, err := (&Rendered{Spec: w, Items: set, Files: plain}).Jobs()
	if err != nil {
		t.Fatal(err)
	}
	if len(pwork.Spec.Template.Spec.InitContainers) != 1 || pseed.Spec.Template.Spec.Containers[0].Name != "seed" {
		t.Errorf("without Kueue: seeding Job %s, worker init containers %d", pseed.Name, len(pwork.Spec.Template.Spec.InitContainers))
	}
	if diff := cmp.Diff(pseed.Spec.Template.Spec.Containers[0].Args, init[1].Args); diff != "" {
		t.Errorf("the seed step's arguments differ with Kueue (-without +with):\n%s", diff)
	}
	if _, ok := pwork.Annotations["kueue.x-k8s.io/job-min-parallelism"]; ok {
		t.Errorf("a Job without Kueue carries Kueue's partial admission annotation")
	}
}
