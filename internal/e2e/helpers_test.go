package e2e

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Spec is the part of a WorkQueue spec the tests vary; the images are the
// node's.
type Spec struct {
	Name         string   // metadata.name
	Queue        string   // spec.queue.name; unique per test, the broker is per namespace anyway
	Items        []string // written to items.txt, the spec's itemsFile
	Parallelism  int
	Command      []string          // default: the worker image's script
	Env          map[string]string // the worker's env (WORK_SECONDS, FAIL_ITEMS)
	Wait         string            // spec.worker.wait, default the schema's
	BackoffLimit int               // spec.worker.backoffLimit when > 0
	ItemsPerPod  int               // spec.worker.itemsPerPod when > 0
	PerIndex     int               // spec.worker.backoffLimitPerIndex when > 0
	// Kueue's tests: spec.kueue.localQueue, spec.worker.resources (a YAML
	// flow mapping), spec.queue.deliveryLimit when > 0.
	LocalQueue    string
	Resources     string
	DeliveryLimit int
}

var fruits = []string{"apple", "banana", "cherry", "date", "fig", "grape", "lemon", "melon"}

// yaml writes the spec as the user would.
func (s Spec) yaml(images Images) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: jobwq.dev/v1alpha1\nkind: WorkQueue\nmetadata:\n  name: %s\nspec:\n  itemsFile: items.txt\n", s.Name)
	fmt.Fprintf(&b, "  queue:\n    name: %s\n", s.Queue)
	if s.DeliveryLimit > 0 {
		fmt.Fprintf(&b, "    deliveryLimit: %d\n", s.DeliveryLimit)
	}
	cmd := s.Command
	if len(cmd) == 0 {
		cmd = []string{"sh", "/worker.sh"}
	}
	quoted, _ := json.Marshal(cmd)
	fmt.Fprintf(&b, "  worker:\n    image: %s\n    command: %s\n    parallelism: %d\n", images.Worker, quoted, max(s.Parallelism, 1))
	if s.Wait != "" {
		fmt.Fprintf(&b, "    wait: %s\n", s.Wait)
	}
	if s.BackoffLimit > 0 {
		fmt.Fprintf(&b, "    backoffLimit: %d\n", s.BackoffLimit)
	}
	if s.ItemsPerPod > 0 {
		fmt.Fprintf(&b, "    itemsPerPod: %d\n", s.ItemsPerPod)
	}
	if s.PerIndex > 0 {
		fmt.Fprintf(&b, "    backoffLimitPerIndex: %d\n", s.PerIndex)
	}
	if s.Resources != "" {
		fmt.Fprintf(&b, "    resources: %s\n", s.Resources)
	}
	if len(s.Env) > 0 {
		b.WriteString("    env:\n")
		for _, k := range sortedKeys(s.Env) {
			v, _ := json.Marshal(s.Env[k])
			fmt.Fprintf(&b, "      - {name: %s, value: %s}\n", k, v)
		}
	}
	fmt.Fprintf(&b, "  broker:\n    image: %s\n  runner:\n    image: %s\n", images.Broker, images.Runner)
	if s.LocalQueue != "" {
		fmt.Fprintf(&b, "  kueue:\n    localQueue: %s\n", s.LocalQueue)
	}
	return b.String()
}

// Run is one WorkQueue built with jobwq build and applied with kubectl
// apply -k to the node, in a namespace of its own that enforces the
// restricted Pod Security standard. Its methods fail the test on error.
type Run struct {
	t       *testing.T
	Spec    Spec
	Variant string
	NS      string
	Dir     string // the build: Dir/base, Dir/overlays/<variant>
	Applied time.Time
	Workers *PodWatch // every worker pod of the run, watched from before the apply
}

// Build writes the spec and its items into a temporary directory and runs
// jobwq build on it.
func Build(t *testing.T, spec Spec) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "workqueue.yaml"), []byte(spec.yaml(node.Images)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "items.txt"), []byte(strings.Join(spec.Items, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if b, err := exec.Command(node.JobwqBinary(), "build", dir, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("jobwq build %s -o %s: %v\n%s\n%s", dir, out, err, b, spec.yaml(node.Images))
	}
	return out
}

// Prepare builds the spec and makes its namespace ready for an apply:
// the credentials Secret (which jobwq never writes) and, for the
// statefulset variant, a volume for the broker's claim (there is no
// provisioner).
func Prepare(t *testing.T, spec Spec, variant string) *Run {
	t.Helper()
	r := &Run{t: t, Spec: spec, Variant: variant, Dir: Build(t, spec), NS: node.Namespace(t)}
	password := make([]byte, 24)
	rand.Read(password)
	node.MustKubectl(t, "create", "secret", "generic", spec.Name+"-broker", "-n", r.NS,
		"--from-literal=username=jobwq", "--from-literal=password="+hex.EncodeToString(password))
	if variant == "statefulset" {
		r.volume()
	}
	return r
}

// Launch prepares and applies the overlay, watching the workers from
// before the apply so that none is missed.
func Launch(t *testing.T, spec Spec, variant string) *Run {
	t.Helper()
	r := Prepare(t, spec, variant)
	r.Workers = r.WatchPods("app.kubernetes.io/component=worker")
	r.Apply()
	return r
}

// Apply runs kubectl apply -k on the run's overlay, as the README says.
func (r *Run) Apply() {
	r.t.Helper()
	overlay := filepath.Join(r.Dir, "overlays", r.Variant)
	res := node.Kubectl(r.t, "apply", "-n", r.NS, "-k", overlay)
	if res.Err != nil {
		r.t.Fatalf("apply: %v", res)
	}
	r.Applied = time.Now()
}

// volume makes a hostPath PersistentVolume owned by the broker's uid and
// bound in advance to the statefulset's first claim (fsGroup does not
// apply to hostPath).
func (r *Run) volume() {
	r.t.Helper()
	path := filepath.Join(node.dir, "volumes", r.NS)
	if err := os.MkdirAll(path, 0o700); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Chown(path, appUID, appUID); err != nil {
		r.t.Fatal(err)
	}
	claim := "data-" + r.Spec.Name + "-broker-0"
	node.MustKubectl(r.t, "create", "-f", writeTemp(r.t, fmt.Sprintf(`apiVersion: v1
kind: PersistentVolume
metadata:
  name: %[1]s
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Delete
  hostPath: {path: %[2]s, type: Directory}
  claimRef: {namespace: %[1]s, name: %[3]s}
`, r.NS, path, claim)))
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "object.yaml")
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// Job returns the name of the run's seed, work or indexed Job ("seed",
// "work", "indexed"),
// <name>-<kind>-<run id>, waiting for it to exist.
func (r *Run) Job(kind string) string {
	r.t.Helper()
	prefix := r.Spec.Name + "-" + kind + "-"
	var found string
	r.eventually(30*time.Second, "a Job named "+prefix+"*", func() bool {
		out := node.MustKubectl(r.t, "get", "jobs", "-n", r.NS, "-o", "jsonpath={.items[*].metadata.name}")
		for _, j := range strings.Fields(out) {
			if strings.HasPrefix(j, prefix) {
				found = j
			}
		}
		return found != ""
	})
	return found
}

// WaitBrokerReady waits for a Ready broker pod and returns its name.
func (r *Run) WaitBrokerReady(timeout time.Duration) string {
	r.t.Helper()
	var pod string
	r.eventually(timeout, "a Ready broker pod", func() bool {
		out := node.MustKubectl(r.t, "get", "pods", "-n", r.NS, "-l", "app.kubernetes.io/component=broker",
			"-o", `jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[1] == "True" {
				pod = f[0]
				return true
			}
		}
		return false
	})
	return pod
}

// JobStatus is what the Job controller counts.
type JobStatus struct {
	Succeeded, Failed, Active int
	Conditions                []string // the types whose status is True
}

func (r *Run) JobStatus(job string) JobStatus {
	r.t.Helper()
	out := node.MustKubectl(r.t, "get", "job", job, "-n", r.NS, "-o",
		`jsonpath={.status.succeeded} {.status.failed} {.status.active} |{.status.conditions[?(@.status=="True")].type}`)
	counts, conds, _ := strings.Cut(out, "|")
	var s JobStatus
	// jsonpath prints nothing for an absent count, so split on the
	// single spaces between them rather than on runs of blanks.
	vals := strings.Split(counts, " ")
	for i, p := range []*int{&s.Succeeded, &s.Failed, &s.Active} {
		if i < len(vals) {
			*p, _ = strconv.Atoi(strings.TrimSpace(vals[i]))
		}
	}
	s.Conditions = strings.Fields(conds)
	return s
}

// WaitJob waits for the Job to reach the condition "Complete" or
// "Failed" and fails the test at once if it reaches the other one.
func (r *Run) WaitJob(job, want string, timeout time.Duration) JobStatus {
	r.t.Helper()
	other := map[string]string{"Complete": "Failed", "Failed": "Complete"}[want]
	var s JobStatus
	r.eventually(timeout, fmt.Sprintf("Job %s %s", job, want), func() bool {
		s = r.JobStatus(job)
		if slices.Contains(s.Conditions, other) {
			r.t.Fatalf("Job %s is %s, want %s: %+v\n%s", job, other, want, s, r.Describe())
		}
		return slices.Contains(s.Conditions, want)
	})
	return s
}

// eventually polls cond every half second until it holds, failing the
// test with the namespace's story when timeout passes first.
func (r *Run) eventually(timeout time.Duration, what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if err := node.Exited(); err != nil {
			r.t.Fatalf("waiting for %s: %v", what, err)
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no %s after %v\n%s", what, timeout, r.Describe())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Describe is the namespace's pods and events, for a failing test.
func (r *Run) Describe() string {
	pods := node.Kubectl(r.t, "get", "pods", "-n", r.NS, "-o", "wide")
	events := node.Kubectl(r.t, "get", "events", "-n", r.NS, "--sort-by=.lastTimestamp",
		"-o", `jsonpath={range .items[*]}{.involvedObject.kind}/{.involvedObject.name} {.reason}: {.message}{"\n"}{end}`)
	return fmt.Sprintf("pods in %s:\n%s%s\nevents:\n%s", r.NS, pods.Stdout, pods.Stderr, tail(events.Stdout, 40))
}

// Pods lists the run's pods with a label selector: name and phase.
func (r *Run) Pods(selector string) map[string]string {
	r.t.Helper()
	out := node.MustKubectl(r.t, "get", "pods", "-n", r.NS, "-l", selector,
		"-o", `jsonpath={range .items[*]}{.metadata.name} {.status.phase}{"\n"}{end}`)
	pods := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			pods[f[0]] = f[1]
		}
	}
	return pods
}

// Logs returns a container's log ("" for a pod that is gone).
func (r *Run) Logs(pod, container string) string {
	r.t.Helper()
	res := node.Kubectl(r.t, "logs", "-n", r.NS, pod, "-c", container)
	if res.Err != nil {
		r.t.Logf("kubectl logs %s -c %s: %v", pod, container, strings.TrimSpace(res.Stderr))
	}
	return res.Stdout
}

var processing = regexp.MustCompile(`(?m)^Processing (.*)$`)

// Processed reads every succeeded worker pod's log and counts the items
// it processed ("Processing <item>" lines of the worker script).
func (r *Run) Processed(job string) map[string]int {
	r.t.Helper()
	seen := map[string]int{}
	for pod, phase := range r.Pods("batch.kubernetes.io/job-name=" + job) {
		if phase != "Succeeded" {
			continue
		}
		for _, m := range processing.FindAllStringSubmatch(r.Logs(pod, "worker"), -1) {
			seen[m[1]]++
		}
	}
	return seen
}

// CheckEachOnce fails the test unless every item was processed exactly
// once and nothing else was.
func (r *Run) CheckEachOnce(seen map[string]int) {
	r.t.Helper()
	for _, item := range r.Spec.Items {
		if seen[item] != 1 {
			r.t.Errorf("item %q processed %d times by succeeded workers, want 1", item, seen[item])
		}
	}
	for item := range seen {
		if !slices.Contains(r.Spec.Items, item) {
			r.t.Errorf("processed %q, which is no item", item)
		}
	}
}

// QueueDepth is one queue as the broker reports it.
type QueueDepth struct{ Ready, Unacked int }

// Queues asks the broker itself (rabbitmqctl in the broker pod) for every
// queue's depth, so the check does not rest on jobwq's own status code.
func (r *Run) Queues() map[string]QueueDepth {
	r.t.Helper()
	pod := r.WaitBrokerReady(2 * time.Minute)
	var out string
	// rabbitmqctl may time out while the broker is busy; ask again.
	r.eventually(time.Minute, "an answer from rabbitmqctl list_queues", func() bool {
		res := node.Kubectl(r.t, "exec", "-n", r.NS, pod, "-c", "rabbitmq", "--",
			"rabbitmqctl", "-q", "list_queues", "--no-table-headers", "name", "messages_ready", "messages_unacknowledged")
		if res.Err != nil {
			r.t.Logf("rabbitmqctl list_queues: %v", strings.TrimSpace(res.Stderr))
			return false
		}
		out = res.Stdout
		return true
	})
	queues := map[string]QueueDepth{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		ready, err1 := strconv.Atoi(f[1])
		unacked, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			r.t.Fatalf("rabbitmqctl list_queues: cannot read %q", sc.Text())
		}
		queues[f[0]] = QueueDepth{ready, unacked}
	}
	return queues
}

// CheckQueues fails the test unless every queue in want exists on the
// broker with the depth given. rabbitmqctl reports a quorum queue's depth
// from figures its leader refreshes on a tick (quorum_tick_interval, 5 s
// by default): read right after the seeder's last confirm, a queue of
// 200,000 items showed 189,800, and a new one 0. So the figures are read
// again until they match or three ticks have passed; a wrong depth still
// fails, with the last figures seen.
func (r *Run) CheckQueues(want map[string]QueueDepth) {
	r.t.Helper()
	const settle = 15 * time.Second
	deadline := time.Now().Add(settle)
	for {
		queues := r.Queues()
		var wrong []string
		for _, q := range slices.Sorted(maps.Keys(want)) {
			d, ok := queues[q]
			switch {
			case !ok:
				wrong = append(wrong, fmt.Sprintf("queue %s does not exist on the broker (queues: %v)", q, queues))
			case d != want[q]:
				wrong = append(wrong, fmt.Sprintf("queue %s holds %d ready and %d unacknowledged messages, want %d and %d",
					q, d.Ready, d.Unacked, want[q].Ready, want[q].Unacked))
			}
		}
		if len(wrong) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, w := range wrong {
				r.t.Errorf("%s (for %v)", w, settle)
			}
			return
		}
		time.Sleep(time.Second)
	}
}

// CheckDrained fails the test unless the queue and its .dead companion
// exist and are empty.
func (r *Run) CheckDrained() {
	r.t.Helper()
	r.CheckQueues(map[string]QueueDepth{r.Spec.Queue: {}, r.Spec.Queue + ".dead": {}})
}

// PodWatch follows a set of pods through kubectl get -w and records the
// most that were active at once.
type PodWatch struct {
	cmd  *exec.Cmd
	done chan struct{}

	mu        sync.Mutex
	pods      map[string]podState
	maxActive int // pods neither finished nor deleting
	maxLive   int // pods not finished, deleting ones included: processes that may still run
	err       error
}

type podState struct {
	phase    string
	deleting bool
	gone     bool
}

// WatchPods starts watching the run's pods that match selector.
func (r *Run) WatchPods(selector string) *PodWatch {
	r.t.Helper()
	w := &PodWatch{pods: map[string]podState{}, done: make(chan struct{})}
	w.cmd = exec.Command("kubectl", "--kubeconfig="+node.Kubeconfig, "get", "pods", "-n", r.NS, "-l", selector,
		"--watch", "--output-watch-events", "-o", "json")
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		r.t.Fatalf("kubectl get pods --watch: %v", err)
	}
	go func() {
		defer close(w.done)
		dec := json.NewDecoder(stdout)
		for {
			var ev struct {
				Type   string `json:"type"`
				Object struct {
					Metadata struct {
						Name              string  `json:"name"`
						DeletionTimestamp *string `json:"deletionTimestamp"`
					} `json:"metadata"`
					Status struct {
						Phase string `json:"phase"`
					} `json:"status"`
				} `json:"object"`
			}
			if err := dec.Decode(&ev); err != nil {
				return
			}
			w.observe(ev.Type, ev.Object.Metadata.Name, ev.Object.Status.Phase, ev.Object.Metadata.DeletionTimestamp != nil)
		}
	}()
	r.t.Cleanup(w.Stop)
	return w
}

func (w *PodWatch) observe(event, name, phase string, deleting bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pods[name] = podState{phase: phase, deleting: deleting, gone: event == "DELETED"}
	active, live := 0, 0
	for _, p := range w.pods {
		if p.gone || p.phase == "Succeeded" || p.phase == "Failed" {
			continue
		}
		live++
		if !p.deleting {
			active++
		}
	}
	w.maxActive = max(w.maxActive, active)
	w.maxLive = max(w.maxLive, live)
}

// Max returns the most pods active at once so far (not finished, not
// being deleted), the most live at once (deleting ones included), and how
// many pods were seen.
func (w *PodWatch) Max() (active, live, seen int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.maxActive, w.maxLive, len(w.pods)
}

// Stop ends the watch.
func (w *PodWatch) Stop() {
	if w.cmd.Process != nil {
		w.cmd.Process.Kill()
		<-w.done
		w.cmd.Wait()
	}
}

// Timeline logs how long each stage of a run took since the apply.
func (r *Run) Timeline(stages ...string) {
	r.t.Helper()
	r.t.Logf("%s: %s", r.Variant, strings.Join(stages, ", "))
}

func (r *Run) since() time.Duration {
	return time.Since(r.Applied).Round(100 * time.Millisecond)
}
