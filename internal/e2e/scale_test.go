//go:build bench_e2e

package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The real-pods benchmark (make bench-e2e, not part of make test: it takes
// minutes and measures rather than checks): jobwq's runs at 100,000 items
// and how they grow, and the reference article's one-item-per-pod pattern
// beside jobwq at one item per pod. Each row is one run on the node, in a
// namespace of its own, whose objects are deleted before the next so that
// no idle broker takes CPU from it.

// benchWorker is what every contender's worker pods get: requests equal to
// limits as jobwq renders them, small enough for four workers and a broker
// to fit the node's two cores.
const benchWorker = "{requests: {cpu: 450m, memory: 128Mi}, limits: {cpu: 450m, memory: 128Mi}}"

// benchCommand does nothing with its item, as the goal says.
var benchCommand = []string{"sh", "-c", "cat >/dev/null"}

type benchRow struct {
	name       string
	items      int
	perPod     int
	wall       time.Duration // kubectl apply → the worker Job Complete
	pods       int           // worker pods created
	failed     int           // failed worker pods
	brokerPeak int64         // bytes; 0 for no broker
	note       string
}

func (r benchRow) String() string {
	mem := "-"
	if r.brokerPeak > 0 {
		mem = fmt.Sprintf("%d MiB", r.brokerPeak>>20)
	}
	perItem := ""
	if r.perPod == 1 {
		perItem = fmt.Sprintf("  %.0f ms/item", float64(r.wall.Milliseconds())/float64(r.items))
	}
	return fmt.Sprintf("%-34s %7d items %5d/pod %9v %8.0f items/s %4d pods %2d failed  broker peak %-8s%s  %s",
		r.name, r.items, r.perPod, r.wall.Round(100*time.Millisecond), float64(r.items)/r.wall.Seconds(), r.pods, r.failed, mem, perItem, r.note)
}

func TestBenchE2E(t *testing.T) {
	var rows []benchRow
	add := func(r benchRow) {
		t.Log(r)
		rows = append(rows, r)
	}
	t.Cleanup(func() {
		fmt.Println("== make bench-e2e: wall time from kubectl apply to the worker Job's completion (2 cores)")
		for _, r := range rows {
			fmt.Println(r)
		}
	})

	t.Run("article-per-item", func(t *testing.T) { add(benchArticle(t, 200, 4)) })
	t.Run("jobwq-per-item", func(t *testing.T) { add(benchJobwqPerItem(t, 200, 4)) })
	for _, n := range []int{1_000, 10_000, 100_000} {
		t.Run(fmt.Sprintf("queue-%d", n), func(t *testing.T) {
			add(benchJobwq(t, "statefulset", n, 1000, 4))
		})
	}
	for _, n := range []int{1_000, 10_000, 100_000} {
		t.Run(fmt.Sprintf("indexed-%d", n), func(t *testing.T) {
			add(benchJobwq(t, "indexed", n, 1000, 4))
		})
	}
}

func benchItems(n int) []string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf("item-%06d", i)
	}
	return items
}

// benchJobwq is one jobwq run, applied whole as the README says.
func benchJobwq(t *testing.T, variant string, n, perPod, parallelism int) benchRow {
	spec := Spec{Name: "wq", Queue: fmt.Sprintf("bench-%d", n), Items: benchItems(n), Parallelism: parallelism,
		ItemsPerPod: perPod, Command: benchCommand, Resources: benchWorker}
	r := Launch(t, spec, variant)
	defer r.deleteWorkloads()
	kind := "work"
	if variant == "indexed" {
		kind = "indexed"
	}
	job := r.Job(kind)
	st := r.WaitJob(job, "Complete", 20*time.Minute)
	row := benchRow{name: "jobwq " + variant, items: n, perPod: perPod, wall: r.since(), failed: st.Failed}
	_, _, row.pods = r.Workers.Max()
	row.note = r.podTimes(job, perPod).String()
	if variant != "indexed" {
		row.brokerPeak = r.brokerPeak()
		r.CheckDrained()
	}
	if want := (n + perPod - 1) / perPod; st.Succeeded != want {
		t.Errorf("%s: %d worker pods succeeded, want %d", row.name, st.Succeeded, want)
	}
	if st.Failed != 0 {
		t.Errorf("%s: %d worker pods failed", row.name, st.Failed)
	}
	return row
}

// benchJobwqPerItem is jobwq at one item per pod, timed as the article's
// pattern is: the broker Ready and the queue seeded first, then the worker
// Job applied and timed alone.
func benchJobwqPerItem(t *testing.T, n, parallelism int) benchRow {
	spec := Spec{Name: "wq", Queue: "bench-per-item", Items: benchItems(n), Parallelism: parallelism,
		Command: benchCommand, Resources: benchWorker}
	r := Prepare(t, spec, "statefulset")
	defer r.deleteWorkloads()
	r.ApplyOnly(func(doc string) bool { return !strings.Contains(doc, "\n  name: wq-work-") })
	r.WaitBrokerReady(3 * time.Minute)
	r.WaitJob(r.Job("seed"), "Complete", 3*time.Minute)
	r.Workers = r.WatchPods("app.kubernetes.io/component=worker")
	r.ApplyOnly(func(doc string) bool { return strings.Contains(doc, "\n  name: wq-work-") })
	job := r.Job("work")
	st := r.WaitJob(job, "Complete", 20*time.Minute)
	row := benchRow{name: "jobwq statefulset, worker Job only", items: n, perPod: 1, wall: r.since(), failed: st.Failed,
		brokerPeak: r.brokerPeak(), note: "(broker Ready, queue seeded before the apply) " + r.podTimes(job, 1).String()}
	_, _, row.pods = r.Workers.Max()
	r.CheckDrained()
	if st.Succeeded != n || st.Failed != 0 {
		t.Errorf("%s: %+v, want %d succeeded, none failed", row.name, st, n)
	}
	return row
}

// benchArticle is the reference article's pattern as users write it: a
// durable queue filled with amqp-publish -p in a shell loop, and a Job
// whose completions are typed to match, each pod running amqp-consume -c 1
// on one message. It runs against jobwq's statefulset broker (the
// article's broker objects do not run on current clusters), in an image
// of Debian's amqp-tools, with the same worker resources and command.
func benchArticle(t *testing.T, n, parallelism int) benchRow {
	ref := amqpToolsImage(t)
	spec := Spec{Name: "wq", Queue: "unused", Items: []string{"unused"}, Parallelism: 1}
	r := Prepare(t, spec, "statefulset")
	defer r.deleteWorkloads()
	// The broker alone: its Service, workload, configuration and Secret.
	r.ApplyOnly(func(doc string) bool { return !strings.Contains(doc, "\nkind: Job\n") })
	r.WaitBrokerReady(3 * time.Minute)

	env := `        env:
        - {name: BROKER_USERNAME, valueFrom: {secretKeyRef: {name: wq-broker, key: username}}}
        - {name: BROKER_PASSWORD, valueFrom: {secretKeyRef: {name: wq-broker, key: password}}}
        - {name: BROKER_URL, value: "amqp://$(BROKER_USERNAME):$(BROKER_PASSWORD)@wq-broker:5672"}
`
	seed := fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata: {name: article-seed}
spec:
  backoffLimit: 0
  template:
    metadata:
      labels: {app.kubernetes.io/instance: wq, jobwq.dev/broker-client: "true"}
    spec:
      restartPolicy: Never
%[1]s      containers:
      - name: seed
        image: %[2]s
        command: [sh, -c, 'amqp-declare-queue --url="$BROKER_URL" -d -q job1 && for i in $(seq 1 %[3]d); do amqp-publish --url="$BROKER_URL" -p -r job1 -b "item-$i" || exit 1; done']
%[4]s%[5]s`, benchPodSecurity, ref, n, env, benchContainerSecurity)
	start := time.Now()
	node.MustKubectl(t, "apply", "-n", r.NS, "-f", writeTemp(t, seed))
	r.WaitJob("article-seed", "Complete", 5*time.Minute)
	t.Logf("the article's amqp-publish loop seeded %d items in %v", n, time.Since(start).Round(100*time.Millisecond))

	work := fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata: {name: job-wq-1}
spec:
  completions: %[3]d
  parallelism: %[4]d
  template:
    metadata:
      labels: {app.kubernetes.io/instance: wq, app.kubernetes.io/component: article-worker, jobwq.dev/broker-client: "true"}
    spec:
      restartPolicy: OnFailure
%[1]s      containers:
      - name: c
        image: %[2]s
        command: [amqp-consume, --url=$(BROKER_URL), -q, job1, -c, "1", /worker.sh]
%[5]s        resources: %[6]s
%[7]s`, benchPodSecurity, ref, n, parallelism, env, benchWorker, benchContainerSecurity)
	r.Workers = r.WatchPods("app.kubernetes.io/component=article-worker")
	node.MustKubectl(t, "apply", "-n", r.NS, "-f", writeTemp(t, work))
	r.Applied = time.Now()
	st := r.WaitJob("job-wq-1", "Complete", 20*time.Minute)
	row := benchRow{name: "article: amqp-consume -c 1", items: n, perPod: 1, wall: r.since(), failed: st.Failed,
		brokerPeak: r.brokerPeak(), note: "(broker Ready, queue seeded before the apply) " + r.podTimes("job-wq-1", 1).String()}
	_, _, row.pods = r.Workers.Max()
	// Pods restarted in place (OnFailure) are counted as restarts.
	restarts := node.MustKubectl(t, "get", "pods", "-n", r.NS, "-l", "app.kubernetes.io/component=article-worker",
		"-o", "jsonpath={.items[*].status.containerStatuses[*].restartCount}")
	for _, f := range strings.Fields(restarts) {
		k, _ := strconv.Atoi(f)
		row.failed += k
	}
	if q := r.Queues()["job1"]; q != (QueueDepth{}) {
		t.Errorf("the article's queue holds %+v after its Job completed", q)
	}
	return row
}

const benchPodSecurity = `      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        seccompProfile: {type: RuntimeDefault}
`

const benchContainerSecurity = `        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
          readOnlyRootFilesystem: true
`

// deleteWorkloads stops everything the run left running, so that an idle
// broker takes no CPU from the next run.
func (r *Run) deleteWorkloads() {
	node.Kubectl(r.t, "delete", "-n", r.NS, "jobs,deployments,statefulsets,replicationcontrollers", "--all", "--wait=true", "--timeout=2m")
}

// brokerPeak is the most memory the broker pod's cgroup has used (cgroup
// v1's memory.max_usage_in_bytes, which the kubelet's cgroupfs driver puts
// under kubepods/<qos>/pod<uid>), read on the host.
func (r *Run) brokerPeak() int64 {
	r.t.Helper()
	pod := r.WaitBrokerReady(time.Minute)
	uid := node.MustKubectl(r.t, "get", "pod", pod, "-n", r.NS, "-o", "jsonpath={.metadata.uid}")
	matches, _ := filepath.Glob("/sys/fs/cgroup/memory/kubepods/*/pod" + uid + "/memory.max_usage_in_bytes")
	more, _ := filepath.Glob("/sys/fs/cgroup/memory/kubepods/pod" + uid + "/memory.max_usage_in_bytes")
	matches = append(matches, more...)
	if len(matches) != 1 {
		r.t.Errorf("broker pod %s: found %d memory cgroups for uid %s", pod, len(matches), uid)
		return 0
	}
	b, err := os.ReadFile(matches[0])
	if err != nil {
		r.t.Error(err)
		return 0
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		r.t.Error(err)
	}
	return v
}

// amqpToolsImage builds and imports an image of Debian's amqp-tools, made
// like the worker image from the machine's own files: the amqp-consume,
// amqp-publish and amqp-declare-queue of Debian's package with the shared
// libraries they load, and busybox for the shell.
func amqpToolsImage(t *testing.T) string {
	t.Helper()
	const ref = "jobwq.local/e2e/amqp-tools:v1"
	var bins []string
	for _, b := range []string{"amqp-consume", "amqp-publish", "amqp-declare-queue"} {
		p, err := exec.LookPath(b)
		if err != nil {
			t.Fatalf("%s not found: install Debian's amqp-tools (apt-get install amqp-tools)", b)
		}
		bins = append(bins, p)
	}
	libs := map[string]bool{}
	lib := regexp.MustCompile(`(/\S+) \(0x`)
	for _, b := range bins {
		out, err := exec.Command("ldd", b).Output()
		if err != nil {
			t.Fatalf("ldd %s: %v", b, err)
		}
		for _, m := range lib.FindAllStringSubmatch(string(out), -1) {
			libs[m[1]] = true
		}
	}
	bb, err := busyboxStatic()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "amqp-tools.oci.tar")
	err = oneLayerImage(out, ref, imageConfig{User: fmt.Sprintf("%d:%d", appUID, appUID), Env: []string{"PATH=/usr/bin:/bin"}},
		func(l *layerWriter) error {
			dirs := map[string]bool{}
			mkdirs := func(p string) error {
				var errs []error
				var parts []string
				for _, part := range strings.Split(path.Dir(p), "/") {
					parts = append(parts, part)
					d := strings.Join(parts, "/")
					if !dirs[d] {
						dirs[d] = true
						errs = append(errs, l.dir(d, 0o755))
					}
				}
				return errors.Join(errs...)
			}
			errs := []error{mkdirs("bin/busybox"), l.copyFile("bin/busybox", 0o755, bb), l.dir("tmp", 0o1777),
				// The article's worker.py, doing what benchCommand does.
				l.file("worker.sh", 0o755, []byte("#!/bin/sh\ncat >/dev/null\n"))}
			for _, a := range []string{"sh", "cat", "seq"} {
				errs = append(errs, l.symlink("bin/"+a, "busybox"))
			}
			for _, p := range append(bins, sortedKeys(libs)...) {
				rel := strings.TrimPrefix(p, "/")
				errs = append(errs, mkdirs(rel), l.copyFile(rel, 0o755, p))
			}
			return errors.Join(errs...)
		})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(node.bins.ctr, "--address", node.sock, "-n", "k8s.io", "images", "import", out).CombinedOutput(); err != nil {
		t.Fatalf("ctr images import: %v\n%s", err, b)
	}
	return ref
}

// podTiming is where a Job's pods spent their time, on average over the
// succeeded ones: from creation to the main container's start (scheduling,
// sandbox, init containers: what every pod pays), and the main
// container's run (connecting, then the items).
type podTiming struct {
	pods          int
	start, run    time.Duration
	perPod, items int
}

func (p podTiming) String() string {
	if p.pods == 0 {
		return ""
	}
	return fmt.Sprintf("per pod: start %v, run %v (%.1f ms/item)", p.start.Round(10*time.Millisecond), p.run.Round(10*time.Millisecond),
		float64(p.run.Microseconds())/1000/float64(p.perPod))
}

func (r *Run) podTimes(job string, perPod int) podTiming {
	r.t.Helper()
	out := node.MustKubectl(r.t, "get", "pods", "-n", r.NS, "-l", "batch.kubernetes.io/job-name="+job, "-o", "json")
	var list struct {
		Items []struct {
			Metadata struct{ CreationTimestamp time.Time }
			Status   struct {
				Phase             string
				ContainerStatuses []struct {
					State struct {
						Terminated *struct{ StartedAt, FinishedAt time.Time }
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		r.t.Fatal(err)
	}
	t := podTiming{perPod: perPod}
	for _, p := range list.Items {
		if p.Status.Phase != "Succeeded" || len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Terminated == nil {
			continue
		}
		term := p.Status.ContainerStatuses[0].State.Terminated
		t.pods++
		t.start += term.StartedAt.Sub(p.Metadata.CreationTimestamp)
		t.run += term.FinishedAt.Sub(term.StartedAt)
	}
	if t.pods > 0 {
		t.start /= time.Duration(t.pods)
		t.run /= time.Duration(t.pods)
	}
	return t
}
