package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/jobwq/jobwq/internal/kubetest"
)

// Kueue runs out of cluster, as a process of the node's control plane,
// started by the first test that needs it: the controller manager
// tools/kueue/install.sh builds, its CRDs, and its webhooks, which the API
// server reaches on loopback (a URL with a CA made here, instead of the
// Service and cert-manager of an in-cluster install).
var (
	kueueOnce sync.Once
	kueueErr  error
)

// kueueFlavor is the one ResourceFlavor every test's ClusterQueue uses.
const kueueFlavor = "jobwq-e2e"

// requireKueue starts Kueue on the node once, failing the test when it
// cannot (a missing build says what to run).
func requireKueue(t *testing.T) {
	t.Helper()
	kueueOnce.Do(func() {
		start := time.Now()
		kueueErr = startKueue()
		if kueueErr == nil {
			t.Logf("Kueue %s up in %v", kueueVersion(), time.Since(start).Round(100*time.Millisecond))
		}
	})
	if kueueErr != nil {
		t.Fatal(kueueErr)
	}
}

// kueueVersion is the version tools/kueue/install.sh builds, read from the
// script itself so the two cannot drift.
func kueueVersion() string {
	f, err := os.Open(filepath.Join("..", "..", "tools", "kueue", "install.sh"))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "version="); ok {
			return v
		}
	}
	return ""
}

// kueueDir is where tools/kueue/install.sh puts the build:
// $JOBWQ_KUEUE_DIR, or the cache's kueue-<version>.
func kueueDir() (string, error) {
	if d := os.Getenv("JOBWQ_KUEUE_DIR"); d != "" {
		return d, nil
	}
	v := kueueVersion()
	if v == "" {
		return "", errors.New("e2e: no version= line in tools/kueue/install.sh")
	}
	return filepath.Join(kubetest.CacheDir(), "kueue-"+v), nil
}

func startKueue() error {
	dir, err := kueueDir()
	if err != nil {
		return err
	}
	bin := filepath.Join(dir, "kueue")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("e2e: %s is missing: run make kueue (tools/kueue/install.sh) to build it", bin)
	}
	run := filepath.Join(node.dir, "kueue")
	certDir := filepath.Join(run, "webhook-certs")
	// Kueue v0.17 reads a metrics certificate from a fixed path,
	// /etc/kueue/metrics/certs, even with metrics off; it gets one in a
	// mount namespace of its own, where /etc is an overlay (the host's /etc
	// is never written).
	etcUpper := filepath.Join(run, "etc", "upper")
	metricsDir := filepath.Join(etcUpper, "kueue", "metrics", "certs")
	for _, d := range []string{certDir, metricsDir, filepath.Join(run, "etc", "work")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("e2e: %w", err)
		}
	}
	caPEM, err := writeServingCert(certDir, metricsDir)
	if err != nil {
		return fmt.Errorf("e2e: Kueue's certificates: %w", err)
	}
	ports, err := freePorts(1)
	if err != nil {
		return fmt.Errorf("e2e: %w", err)
	}
	port := ports[0]
	config := fmt.Sprintf(kueueConfig, port, certDir)
	if err := writeConfig(filepath.Join(run, "config.yaml"), config); err != nil {
		return err
	}

	// create, not apply: the Workload CRD is larger than apply's
	// last-applied annotation may be.
	if r := node.KubectlContext(context.Background(), "", "create", "-f", filepath.Join(dir, "config", "crd")); r.Err != nil {
		return fmt.Errorf("e2e: Kueue's CRDs: %v", r)
	}
	for _, crd := range []string{"clusterqueues", "localqueues", "resourceflavors", "workloads", "workloadpriorityclasses"} {
		if r := node.KubectlContext(context.Background(), "", "wait", "--for=condition=Established", "--timeout=60s", "crd/"+crd+".kueue.x-k8s.io"); r.Err != nil {
			return fmt.Errorf("e2e: Kueue CRD %s not established: %v", crd, r)
		}
	}
	if r := node.KubectlContext(context.Background(), "", "create", "namespace", "kueue-system"); r.Err != nil {
		return fmt.Errorf("e2e: %v", r)
	}
	script := `set -e
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc
shift 2
exec "$@"`
	if err := node.StartProcess("kueue", "unshare", "--mount", "--propagation", "private", "--",
		"/bin/sh", "-c", script, "kueue", etcUpper, filepath.Join(run, "etc", "work"),
		bin, "--config="+filepath.Join(run, "config.yaml"), "--kubeconfig="+node.Kubeconfig,
		// The visibility API server would listen on every address.
		"--feature-gates=VisibilityOnDemand=false"); err != nil {
		return err
	}
	// The webhook server answers once the manager runs.
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	if err := waitFor(context.Background(), 2*time.Minute, func() error {
		if err := node.Exited(); err != nil {
			return permanent(err)
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			return err
		}
		return c.Close()
	}); err != nil {
		return fmt.Errorf("e2e: Kueue's webhook server at %s: %w\n%s", addr, err, node.LogTail("kueue", 30))
	}
	hooks, err := kueueWebhooks(filepath.Join(dir, "config", "webhook", "manifests.yaml"), "https://"+addr, caPEM)
	if err != nil {
		return err
	}
	if r := node.KubectlContext(context.Background(), hooks, "create", "-f", "-"); r.Err != nil {
		return fmt.Errorf("e2e: Kueue's webhook configurations: %v", r)
	}
	// The flavor goes through Kueue's own webhook: when it is created,
	// Kueue answers the API server.
	flavor := fmt.Sprintf("apiVersion: kueue.x-k8s.io/v1beta2\nkind: ResourceFlavor\nmetadata:\n  name: %s\n", kueueFlavor)
	if err := waitFor(context.Background(), time.Minute, func() error {
		if r := node.KubectlContext(context.Background(), flavor, "apply", "-f", "-"); r.Err != nil {
			return errors.New(r.String())
		}
		return nil
	}); err != nil {
		return fmt.Errorf("e2e: create a ResourceFlavor through Kueue's webhook: %w\n%s", err, node.LogTail("kueue", 30))
	}
	return nil
}

// kueueConfig: the webhook on loopback with its certificate from the
// given directory, nothing else listening (metrics and health probes
// off), no leader election (one replica), and only the batch/job
// integration (the others' CRDs do not exist here).
const kueueConfig = `apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
namespace: kueue-system
health:
  healthProbeBindAddress: "0"
metrics:
  bindAddress: "0"
webhook:
  host: 127.0.0.1
  port: %d
  certDir: %s
leaderElection:
  leaderElect: false
internalCertManagement:
  enable: false
integrations:
  frameworks:
  - batch/job
`

// kueueWebhooks turns the module's webhook configurations into ones the
// API server reaches on loopback: the webhooks for batch Jobs and Kueue's
// own kinds (the rest belong to integrations not enabled, and with
// failurePolicy Fail would block every Deployment and pod), each pointed
// at url with the CA.
func kueueWebhooks(manifests, url string, caPEM []byte) (string, error) {
	b, err := os.ReadFile(manifests)
	if err != nil {
		return "", fmt.Errorf("e2e: %w", err)
	}
	ours := func(rules []admissionv1.RuleWithOperations) bool {
		for _, r := range rules {
			for _, g := range r.APIGroups {
				if g != "batch" && g != "kueue.x-k8s.io" {
					return false
				}
			}
		}
		return len(rules) > 0
	}
	point := func(c *admissionv1.WebhookClientConfig) error {
		if c.Service == nil || c.Service.Path == nil {
			return errors.New("a webhook without a service path")
		}
		u := url + *c.Service.Path
		c.Service, c.URL, c.CABundle = nil, &u, caPEM
		return nil
	}
	var docs []string
	for _, doc := range docSep.Split(string(b), -1) {
		var kind struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &kind); err != nil {
			return "", fmt.Errorf("e2e: %s: %w", manifests, err)
		}
		var out any
		switch kind.Kind {
		case "MutatingWebhookConfiguration":
			var c admissionv1.MutatingWebhookConfiguration
			if err := yaml.UnmarshalStrict([]byte(doc), &c); err != nil {
				return "", fmt.Errorf("e2e: %s: %w", manifests, err)
			}
			var keep []admissionv1.MutatingWebhook
			for _, w := range c.Webhooks {
				if ours(w.Rules) {
					if err := point(&w.ClientConfig); err != nil {
						return "", fmt.Errorf("e2e: %s: %s: %w", manifests, w.Name, err)
					}
					keep = append(keep, w)
				}
			}
			c.Name, c.Webhooks = "jobwq-e2e-kueue", keep
			out = c
		case "ValidatingWebhookConfiguration":
			var c admissionv1.ValidatingWebhookConfiguration
			if err := yaml.UnmarshalStrict([]byte(doc), &c); err != nil {
				return "", fmt.Errorf("e2e: %s: %w", manifests, err)
			}
			var keep []admissionv1.ValidatingWebhook
			for _, w := range c.Webhooks {
				if ours(w.Rules) {
					if err := point(&w.ClientConfig); err != nil {
						return "", fmt.Errorf("e2e: %s: %s: %w", manifests, w.Name, err)
					}
					keep = append(keep, w)
				}
			}
			c.Name, c.Webhooks = "jobwq-e2e-kueue", keep
			out = c
		default:
			continue
		}
		y, err := yaml.Marshal(out)
		if err != nil {
			return "", err
		}
		docs = append(docs, string(y))
	}
	if len(docs) != 2 {
		return "", fmt.Errorf("e2e: %s: want a mutating and a validating webhook configuration, found %d", manifests, len(docs))
	}
	for _, need := range []string{"/mutate-batch-v1-job", "/validate-batch-v1-job", "/validate-kueue-x-k8s-io-v1beta2-workload"} {
		if !strings.Contains(strings.Join(docs, ""), url+need) {
			return "", fmt.Errorf("e2e: %s has no webhook at %s", manifests, need)
		}
	}
	return strings.Join(docs, "---\n"), nil
}

// writeServingCert makes a CA and a certificate for 127.0.0.1 signed by
// it, as tls.crt and tls.key in each directory, and returns the CA.
func writeServingCert(dirs ...string) ([]byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "jobwq-e2e-kueue-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kueue-webhook"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(d, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
			return nil, err
		}
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}

// Quota is a ClusterQueue's nominal quota of the one flavor.
type Quota map[corev1.ResourceName]resource.Quantity

func (q Quota) String() string {
	var parts []string
	for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		v := q[n]
		parts = append(parts, fmt.Sprintf("%s %s", n, v.String()))
	}
	return strings.Join(parts, ", ")
}

// Times is the quota multiplied by n.
func (q Quota) Times(n int64) Quota {
	out := Quota{}
	for k, v := range q {
		out[k] = *resource.NewMilliQuantity(v.MilliValue()*n, v.Format)
	}
	return out
}

// ClusterQueue makes a ClusterQueue with quota of the test's flavor (its
// covered resources: cpu, memory, ephemeral-storage) that preempts lower
// priorities within itself, and a LocalQueue for it in the run's
// namespace; both carry the test's unique name and go when it ends.
func (r *Run) ClusterQueue(quota Quota) string {
	r.t.Helper()
	name := r.NS
	node.MustKubectl(r.t, "apply", "-f", writeTemp(r.t, r.clusterQueueYAML(name, quota)))
	r.t.Cleanup(func() {
		node.Kubectl(r.t, "delete", "localqueue", r.Spec.LocalQueue, "-n", r.NS, "--wait=false")
		node.Kubectl(r.t, "delete", "clusterqueue", name, "--wait=false")
	})
	return name
}

// SetQuota changes the ClusterQueue's quota.
func (r *Run) SetQuota(name string, quota Quota) {
	r.t.Helper()
	node.MustKubectl(r.t, "apply", "-f", writeTemp(r.t, r.clusterQueueYAML(name, quota)))
}

func (r *Run) clusterQueueYAML(name string, quota Quota) string {
	var res strings.Builder
	for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		v := quota[n]
		fmt.Fprintf(&res, "      - {name: %s, nominalQuota: %q}\n", n, v.String())
	}
	return fmt.Sprintf(`apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata:
  name: %[1]s
spec:
  namespaceSelector: {}
  preemption:
    withinClusterQueue: LowerPriority
  resourceGroups:
  - coveredResources: [cpu, memory, ephemeral-storage]
    flavors:
    - name: %[2]s
      resources:
%[3]s---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata:
  name: %[4]s
  namespace: %[5]s
spec:
  clusterQueue: %[1]s
`, name, kueueFlavor, res.String(), r.Spec.LocalQueue, r.NS)
}

// PodRequests is what Kueue counts for one pod of the rendered Job: per
// resource the larger of the init containers' requests (each alone) and
// the containers' together, as the scheduler does.
func (r *Run) PodRequests(kind string) Quota {
	r.t.Helper()
	out := node.MustKubectl(r.t, "kustomize", filepath.Join(r.Dir, "overlays", r.Variant))
	for _, doc := range docSep.Split(out, -1) {
		if !strings.Contains(doc, "\n  name: "+r.Spec.Name+"-"+kind+"-") {
			continue
		}
		var job struct {
			Spec struct {
				Template struct{ Spec corev1.PodSpec }
			}
		}
		if err := yaml.Unmarshal([]byte(doc), &job); err != nil {
			r.t.Fatal(err)
		}
		pod := job.Spec.Template.Spec
		q := Quota{}
		for _, c := range pod.Containers {
			for n, v := range c.Resources.Requests {
				sum := q[n]
				sum.Add(v)
				q[n] = sum
			}
		}
		for _, c := range pod.InitContainers {
			for n, v := range c.Resources.Requests {
				if cur := q[n]; v.Cmp(cur) > 0 {
					q[n] = v
				}
			}
		}
		return q
	}
	r.t.Fatalf("no %s Job in the %s overlay", kind, r.Variant)
	return nil
}

// Workload is what Kueue says of the workload of one Job.
type Workload struct {
	Name       string
	Conditions map[string]WorkloadCondition
	// Admitted pods per pod set, from status.admission.
	Counts []int
}

type WorkloadCondition struct {
	Status, Reason, Message string
}

func (w Workload) Is(cond string) bool { return w.Conditions[cond].Status == "True" }

// Workload finds the workload Kueue made for the Job (nil when none yet).
func (r *Run) Workload(job string) *Workload {
	r.t.Helper()
	out := node.MustKubectl(r.t, "get", "workloads.kueue.x-k8s.io", "-n", r.NS, "-o", "json")
	var list struct {
		Items []struct {
			Metadata struct {
				Name            string
				OwnerReferences []struct{ Kind, Name string }
			}
			Status struct {
				Conditions []struct{ Type, Status, Reason, Message string }
				Admission  *struct {
					PodSetAssignments []struct{ Count *int }
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		r.t.Fatal(err)
	}
	for _, it := range list.Items {
		for _, o := range it.Metadata.OwnerReferences {
			if o.Kind != "Job" || o.Name != job {
				continue
			}
			w := &Workload{Name: it.Metadata.Name, Conditions: map[string]WorkloadCondition{}}
			for _, c := range it.Status.Conditions {
				w.Conditions[c.Type] = WorkloadCondition{c.Status, c.Reason, c.Message}
			}
			if it.Status.Admission != nil {
				for _, a := range it.Status.Admission.PodSetAssignments {
					if a.Count != nil {
						w.Counts = append(w.Counts, *a.Count)
					}
				}
			}
			return w
		}
	}
	return nil
}

// WaitWorkload waits for the Job's workload to have the condition True.
func (r *Run) WaitWorkload(job, cond string, timeout time.Duration) *Workload {
	r.t.Helper()
	var w *Workload
	r.eventually(timeout, fmt.Sprintf("workload of %s %s", job, cond), func() bool {
		w = r.Workload(job)
		return w != nil && w.Is(cond)
	})
	return w
}

// CheckAdmittedByKueue fails the test unless the Job was created
// suspended and started by Kueue: its events say so.
func (r *Run) CheckAdmittedByKueue(job string) {
	r.t.Helper()
	out := node.MustKubectl(r.t, "get", "events", "-n", r.NS, "--field-selector", "involvedObject.kind=Job,involvedObject.name="+job,
		"-o", `jsonpath={range .items[*]}{.reason}: {.message}{"\n"}{end}`)
	if !regexp.MustCompile(`(?m)^Suspended: `).MatchString(out) || !regexp.MustCompile(`(?m)^Started: Admitted by clusterQueue`).MatchString(out) {
		r.t.Errorf("Job %s was not suspended and then admitted by Kueue; its events:\n%s", job, out)
	}
	if s := node.MustKubectl(r.t, "get", "job", job, "-n", r.NS, "-o", "jsonpath={.metadata.labels.kueue\\.x-k8s\\.io/queue-name}"); s != r.Spec.LocalQueue {
		r.t.Errorf("Job %s has queue-name %q, want %q", job, s, r.Spec.LocalQueue)
	}
}

// ApplyWorkerFirst applies the worker Job alone, waits for Kueue to admit
// it, then applies everything else. Kueue admits workloads one by one in
// the order it queued them, and two Jobs made in the same second are
// queued in whichever order its reconcilers happened to create their
// workloads: the worker Job first is the order in which a run with a
// seeding Job beside it deadlocks at a quota that fits the workers alone.
// The test takes that order for sure.
func (r *Run) ApplyWorkerFirst(kind string) {
	r.t.Helper()
	isJob := func(doc string) bool { return strings.Contains(doc, "\n  name: "+r.Spec.Name+"-"+kind+"-") }
	r.ApplyOnly(isJob)
	job := r.Job(kind)
	r.WaitWorkload(job, "Admitted", time.Minute)
	applied := r.Applied
	r.ApplyOnly(func(doc string) bool { return !isJob(doc) })
	r.Applied = applied
}

// ApplyOnly applies the overlay's objects for which keep is true, with
// the same kubectl apply, fed the kustomize output.
func (r *Run) ApplyOnly(keep func(doc string) bool) {
	r.t.Helper()
	out := node.MustKubectl(r.t, "kustomize", filepath.Join(r.Dir, "overlays", r.Variant))
	var docs []string
	for _, doc := range docSep.Split(out, -1) {
		if strings.TrimSpace(doc) != "" && keep(doc) {
			docs = append(docs, doc)
		}
	}
	if len(docs) == 0 {
		r.t.Fatalf("no object of the %s overlay to apply", r.Variant)
	}
	if res := node.KubectlStdin(r.t, strings.Join(docs, "---\n"), "apply", "-n", r.NS, "-f", "-"); res.Err != nil {
		r.t.Fatalf("apply: %v", res)
	}
	r.Applied = time.Now()
}

// SeededOnce fails the test unless exactly one pod's seed step seeded the
// queue and every other one found it seeded: nothing was seeded twice.
func (r *Run) SeededOnce(job string) {
	r.t.Helper()
	seeded, found := 0, 0
	for pod := range r.Pods("batch.kubernetes.io/job-name=" + job) {
		log := r.Logs(pod, "seed")
		switch {
		case strings.Contains(log, "and sealed it"):
			seeded++
		case strings.Contains(log, "was already seeded with these"):
			found++
		}
	}
	if seeded != 1 {
		r.t.Errorf("%d worker pods seeded the queue (and %d found it seeded), want exactly one", seeded, found)
	}
	r.CheckQueues(map[string]QueueDepth{r.Spec.Queue + ".seal": {Ready: 1}})
}

// kueueSpec is the run the Kueue tests admit: small pods, so that quotas
// are easy to state, on the node's two cores.
func kueueSpec(name, queue string) Spec {
	return Spec{
		Name: name, Queue: queue, Items: fruits, Parallelism: 2,
		Resources:  "{requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 100m, memory: 64Mi}}",
		LocalQueue: "batch",
	}
}

// TestKueueQueueVariant is the quota deadlock, made impossible: a
// ClusterQueue with exactly the quota the worker pods need (parallelism ×
// one pod's requests), and the worker Job admitted first. With a seeding
// Job beside it (jobwq before Kueue runs were one workload) the seeding
// Job waited for quota the workers held while they waited for its seal,
// until they gave up (exit 3) and the run failed. Now the worker pods
// seed, exactly once, and the run completes.
func TestKueueQueueVariant(t *testing.T) {
	requireKueue(t)
	spec := kueueSpec("wq", "kueue-exact")
	spec.Wait = "2m"
	r := Prepare(t, spec, "deployment")
	pod := r.PodRequests("work")
	quota := pod.Times(int64(spec.Parallelism))
	r.ClusterQueue(quota)
	t.Logf("one worker pod requests %v; the ClusterQueue's quota is %v", pod, quota)
	r.Workers = r.WatchPods("app.kubernetes.io/component=worker")
	r.ApplyWorkerFirst("work")
	work := r.Job("work")
	st := r.WaitJob(work, "Complete", 5*time.Minute)
	r.Timeline("apply → done " + r.since().String())
	r.CheckAdmittedByKueue(work)
	if st.Succeeded != len(fruits) || st.Failed != 0 {
		t.Errorf("worker Job: %+v, want %d succeeded, none failed", st, len(fruits))
	}
	if _, live, _ := r.Workers.Max(); live > spec.Parallelism {
		t.Errorf("%d worker pods alive at once, the quota holds %d", live, spec.Parallelism)
	}
	r.CheckEachOnce(r.Processed(work))
	r.SeededOnce(work)
	r.CheckDrained()
}

// TestKueueIndexed: the indexed variant under Kueue, admitted at exactly
// its quota, runs and completes.
func TestKueueIndexed(t *testing.T) {
	requireKueue(t)
	spec := kueueSpec("wq", "unused")
	spec.ItemsPerPod = 2
	r := Prepare(t, spec, "indexed")
	quota := r.PodRequests("indexed").Times(int64(spec.Parallelism))
	r.ClusterQueue(quota)
	r.Workers = r.WatchPods("app.kubernetes.io/component=worker")
	r.Apply()
	job := r.Job("indexed")
	st := r.WaitJob(job, "Complete", 5*time.Minute)
	r.Timeline("apply → done " + r.since().String())
	r.CheckAdmittedByKueue(job)
	if st.Succeeded != 4 || st.Failed != 0 {
		t.Errorf("indexed Job: %+v, want 4 succeeded, none failed", st)
	}
	r.CheckEachOnce(r.Processed(job))
}

// TestKueueQuotaTooSmall: a quota smaller than one worker pod admits
// nothing. The run stays pending, Kueue says why on its workload, no
// worker pod starts and nothing is seeded. Raised to two pods' worth
// while parallelism is 4, the quota admits the Job partially (Kueue's
// partial admission, which jobwq asks for): two workers, and the run
// completes with every item done once and the queue seeded once.
func TestKueueQuotaTooSmall(t *testing.T) {
	requireKueue(t)
	spec := kueueSpec("wq", "kueue-small")
	spec.Parallelism = 4
	r := Prepare(t, spec, "deployment")
	pod := r.PodRequests("work")
	half := pod.Times(1)
	cpu := half[corev1.ResourceCPU]
	half[corev1.ResourceCPU] = *resource.NewMilliQuantity(cpu.MilliValue()/2, resource.DecimalSI)
	cq := r.ClusterQueue(half)
	r.Workers = r.WatchPods("app.kubernetes.io/component=worker")
	r.Apply()
	work := r.Job("work")

	var w *Workload
	r.eventually(time.Minute, "Kueue to say why the workload waits", func() bool {
		w = r.Workload(work)
		return w != nil && w.Conditions["QuotaReserved"].Status == "False" && w.Conditions["QuotaReserved"].Message != ""
	})
	msg := w.Conditions["QuotaReserved"].Message
	t.Logf("Kueue on the pending run: %s", msg)
	if !strings.Contains(msg, "insufficient quota for") {
		t.Errorf("the pending workload's message does not name the missing quota: %q", msg)
	}
	r.WaitBrokerReady(3 * time.Minute)
	time.Sleep(5 * time.Second) // time enough for a wrongly admitted pod to show up
	if _, _, seen := r.Workers.Max(); seen != 0 {
		t.Errorf("%d worker pods started with quota for half a pod", seen)
	}
	if st := r.JobStatus(work); st.Active+st.Succeeded+st.Failed != 0 {
		t.Errorf("worker Job ran pods without quota: %+v", st)
	}
	if q, ok := r.Queues()[spec.Queue]; ok {
		t.Errorf("the queue was declared (%+v) while the run was pending", q)
	}

	r.SetQuota(cq, pod.Times(2))
	w = r.WaitWorkload(work, "Admitted", 2*time.Minute)
	t.Logf("quota raised to two pods: admitted %v of parallelism %d", w.Counts, spec.Parallelism)
	if len(w.Counts) != 1 || w.Counts[0] != 2 {
		t.Errorf("admitted pod counts %v, want partial admission of 2", w.Counts)
	}
	st := r.WaitJob(work, "Complete", 5*time.Minute)
	if st.Succeeded != len(fruits) || st.Failed != 0 {
		t.Errorf("worker Job: %+v, want %d succeeded, none failed", st, len(fruits))
	}
	if _, live, _ := r.Workers.Max(); live > 2 {
		t.Errorf("%d worker pods alive at once, the quota holds 2", live)
	}
	r.CheckEachOnce(r.Processed(work))
	r.SeededOnce(work)
	r.CheckDrained()
}

// TestKueuePreemptedItemsNotDead: a higher-priority workload preempts the
// run's workers while each item is in progress, more times than the
// queue's delivery limit allows deliveries. Every preempted worker gets
// SIGTERM and puts its item back afresh, so no item is dead-lettered (a
// return would have counted, and the items would have been dead after
// the limit), and the run completes with each item's last delivery its
// first.
func TestKueuePreemptedItemsNotDead(t *testing.T) {
	requireKueue(t)
	spec := kueueSpec("wq", "kueue-preempted")
	spec.Items = []string{"alpha", "beta"}
	spec.DeliveryLimit = 2
	spec.Env = map[string]string{"WORK_SECONDS": "8"}
	r := Prepare(t, spec, "deployment")
	pod := r.PodRequests("work")
	quota := pod.Times(int64(spec.Parallelism))
	r.ClusterQueue(quota)
	high := r.NS + "-high"
	node.MustKubectl(t, "apply", "-f", writeTemp(t, fmt.Sprintf("apiVersion: kueue.x-k8s.io/v1beta2\nkind: WorkloadPriorityClass\nmetadata:\n  name: %s\nvalue: 1000\n", high)))
	t.Cleanup(func() { node.Kubectl(t, "delete", "workloadpriorityclass", high, "--wait=false") })
	r.Workers = r.WatchPods("app.kubernetes.io/component=worker")
	r.Apply()
	work := r.Job("work")

	const preemptions = 3 // deliveries: more than DeliveryLimit
	for i := 1; i <= preemptions; i++ {
		r.eventually(3*time.Minute, "both items in progress", func() bool {
			return len(r.InProgress(work)) == len(spec.Items)
		})
		hog := fmt.Sprintf("hog-%d", i)
		r.Hog(hog, high, quota)
		w := r.WaitWorkload(work, "Evicted", time.Minute)
		t.Logf("preemption %d, %v after the apply: %s: %s", i, r.since(), w.Conditions["Evicted"].Reason, w.Conditions["Evicted"].Message)
		r.WaitJob(hog, "Complete", 2*time.Minute)
		node.MustKubectl(t, "delete", "job", hog, "-n", r.NS)
	}
	st := r.WaitJob(work, "Complete", 5*time.Minute)
	r.Timeline(fmt.Sprintf("%d preemptions, done %v", preemptions, r.since()))
	if st.Succeeded != len(spec.Items) {
		t.Errorf("worker Job: %+v, want %d succeeded", st, len(spec.Items))
	}
	r.CheckEachOnce(r.Processed(work))
	for pod, phase := range r.Pods("batch.kubernetes.io/job-name=" + work) {
		if log := r.Logs(pod, "worker"); phase == "Succeeded" && !strings.Contains(log, "(delivery 1)") {
			t.Errorf("pod %s did its item on a later delivery: the stops were counted:\n%s", pod, log)
		}
	}
	r.CheckDrained()
}

// InProgress lists the items running worker pods of the Job are in the
// middle of ("Processing" logged, "Done" not yet).
func (r *Run) InProgress(job string) []string {
	r.t.Helper()
	var items []string
	for pod, phase := range r.Pods("batch.kubernetes.io/job-name=" + job) {
		if phase != "Running" {
			continue
		}
		if del := node.Kubectl(r.t, "get", "pod", pod, "-n", r.NS, "-o", "jsonpath={.metadata.deletionTimestamp}"); del.Stdout != "" {
			continue
		}
		log := r.Logs(pod, "worker")
		if m := processing.FindStringSubmatch(log); m != nil && !strings.Contains(log, "Done "+m[1]) {
			items = append(items, m[1])
		}
	}
	return items
}

// Hog is a Job of one short pod in the run's LocalQueue with the given
// WorkloadPriorityClass, asking for the whole quota: Kueue admits it by
// preempting what holds the quota.
func (r *Run) Hog(name, priority string, quota Quota) {
	r.t.Helper()
	cpu, mem, eph := quota[corev1.ResourceCPU], quota[corev1.ResourceMemory], quota[corev1.ResourceEphemeralStorage]
	node.MustKubectl(r.t, "apply", "-n", r.NS, "-f", writeTemp(r.t, fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata:
  name: %[1]s
  labels:
    kueue.x-k8s.io/queue-name: %[2]s
    kueue.x-k8s.io/priority-class: %[3]s
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: %[4]d
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: hog
        image: %[5]s
        command: ["true"]
        resources:
          requests: {cpu: %[6]q, memory: %[7]q, ephemeral-storage: %[8]q}
          limits: {cpu: %[6]q, memory: %[7]q, ephemeral-storage: %[8]q}
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
`, name, r.Spec.LocalQueue, priority, appUID, node.Images.Worker, cpu.String(), mem.String(), eph.String())))
}
