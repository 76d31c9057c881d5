// Package generate evaluates jobwq's CUE templates (cue/templates) for one
// validated WorkQueue and returns the files of its kustomize tree: a base
// and one overlay per broker variant. Items reach the templates only as a
// count, a digest and chunk names (package items collects them); the chunk
// files themselves are written here, byte for byte as collected.
package generate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/load"
	cueyaml "cuelang.org/go/encoding/yaml"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	jobwqcue "github.com/jobwq/jobwq/cue"
	"github.com/jobwq/jobwq/internal/exitcode"
	"github.com/jobwq/jobwq/internal/items"
	"github.com/jobwq/jobwq/internal/workqueue"
)

// Variants are every variant jobwq knows, one overlay each. A build
// writes those of VariantsOf its spec.
var Variants = []string{"deployment", "replicationcontroller", "statefulset", "rabbitmqcluster", "external", "indexed"}

// QueueVariants are the variants with a broker, a queue and a seeder.
var QueueVariants = Variants[:5]

// BundledVariants are the variants whose broker jobwq renders itself.
var BundledVariants = Variants[:3]

// VariantsOf are the variants a build of w writes: with an external
// broker, that one and indexed; otherwise the bundled brokers, the
// operator's and indexed.
func VariantsOf(w *workqueue.WorkQueue) []string {
	if w.Spec.Broker.External != nil {
		return []string{"external", "indexed"}
	}
	return []string{"deployment", "replicationcontroller", "statefulset", "rabbitmqcluster", "indexed"}
}

// Files is a kustomize tree: slash-separated paths relative to the output
// directory, mapped to their contents.
type Files map[string][]byte

// input mirrors #Input in cue/templates/input.cue.
type input struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	RunID       string            `json:"runID"`
	Items       struct {
		Count  int      `json:"count"`
		Digest string   `json:"digest"`
		Chunks []string `json:"chunks"`
	} `json:"items"`
	Queue  workqueue.Queue `json:"queue"`
	Worker struct {
		Image                   string                  `json:"image"`
		Command                 []string                `json:"command"`
		Parallelism             int                     `json:"parallelism"`
		ItemsPerPod             int                     `json:"itemsPerPod"`
		Completions             int                     `json:"completions"`
		BackoffLimitPerIndex    int                     `json:"backoffLimitPerIndex"`
		MaxFailedIndexes        *int                    `json:"maxFailedIndexes,omitempty"`
		TimeoutSeconds          int64                   `json:"timeoutSeconds"`
		WaitSeconds             int64                   `json:"waitSeconds"`
		ActiveDeadlineSeconds   int64                   `json:"activeDeadlineSeconds"`
		TTLSecondsAfterFinished int64                   `json:"ttlSecondsAfterFinished"`
		BackoffLimit            int                     `json:"backoffLimit"`
		Env                     []workqueue.EnvVar      `json:"env"`
		Resources               workqueue.Resources     `json:"resources"`
		Pod                     pod                     `json:"pod"`
		Volumes                 []workqueue.Volume      `json:"volumes"`
		VolumeMounts            []workqueue.VolumeMount `json:"volumeMounts"`
	} `json:"worker"`
	Seeder struct {
		Pod pod `json:"pod"`
	} `json:"seeder"`
	Broker struct {
		Image             string              `json:"image"`
		CredentialsSecret string              `json:"credentialsSecret"`
		Resources         workqueue.Resources `json:"resources"`
		Storage           workqueue.Storage   `json:"storage"`
		Pod               pod                 `json:"pod"`
		Replicas          int                 `json:"replicas"`
		External          *external           `json:"external,omitempty"`
		Config            brokerConfig        `json:"config"`
	} `json:"broker"`
	Kueue           *workqueue.Kueue `json:"kueue,omitempty"`
	Runner          workqueue.Runner `json:"runner"`
	ImagePullPolicy string           `json:"imagePullPolicy,omitempty"`
	ExitCodes       struct {
		SeedFatal []int `json:"seedFatal"`
		WorkFatal []int `json:"workFatal"`
		Usage     int   `json:"usage"`
	} `json:"exitCodes"`
}

// Tree renders the kustomize tree for w and its items.
func Tree(w *workqueue.WorkQueue, set *items.Set) (Files, error) {
	in, err := newInput(w, set)
	if err != nil {
		return nil, err
	}
	tmpl, err := templates()
	if err != nil {
		return nil, err
	}
	// A cue.Context is not safe for concurrent use; templates are
	// compiled into a fresh one per call (cheap next to evaluation).
	v := tmpl.FillPath(cue.ParsePath("input"), in)
	if err := v.Validate(cue.Concrete(true)); err != nil {
		return nil, fmt.Errorf("render templates: %w", err)
	}
	files := Files{}
	iter, err := v.LookupPath(cue.ParsePath("tree")).Fields()
	if err != nil {
		return nil, fmt.Errorf("render templates: %w", err)
	}
	header, _ := v.LookupPath(cue.ParsePath("header")).String()
	for iter.Next() {
		path := iter.Selector().Unquoted()
		docs, err := encodeDocs(iter.Value())
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", path, err)
		}
		if bytes.HasSuffix([]byte(path), []byte("kustomization.yaml")) {
			docs = append([]byte("# "+header+"\n"), docs...)
		}
		files[path] = docs
	}
	texts, err := v.LookupPath(cue.ParsePath("textFiles")).Fields()
	if err != nil {
		return nil, fmt.Errorf("render templates: %w", err)
	}
	for texts.Next() {
		text, err := texts.Value().String()
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", texts.Selector().Unquoted(), err)
		}
		files[texts.Selector().Unquoted()] = []byte(text)
	}
	for i, name := range set.ChunkNames() {
		files["base/items/"+name+".txt"] = set.Chunks[i]
	}
	return files, nil
}

func encodeDocs(list cue.Value) ([]byte, error) {
	it, err := list.List()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for i := 0; it.Next(); i++ {
		if i > 0 {
			buf.WriteString("---\n")
		}
		b, err := cueyaml.Encode(it.Value())
		if err != nil {
			return nil, err
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

func newInput(w *workqueue.WorkQueue, set *items.Set) (*input, error) {
	runID, err := RunID(w, set)
	if err != nil {
		return nil, err
	}
	in := &input{
		Name:        w.Metadata.Name,
		Namespace:   w.Metadata.Namespace,
		Labels:      orEmpty(w.Metadata.Labels),
		Annotations: orEmpty(w.Metadata.Annotations),
		RunID:       runID,
		Queue:       w.Spec.Queue,
		Runner:      w.Spec.Runner,
	}
	in.Queue.Name = QueueName(w, runID)
	in.ImagePullPolicy = w.Spec.ImagePullPolicy
	in.ExitCodes.SeedFatal = exitcode.SeedFatal
	in.ExitCodes.WorkFatal = exitcode.WorkFatal
	in.ExitCodes.Usage = exitcode.Usage
	in.Items.Count = set.Count
	in.Items.Digest = set.Digest
	in.Items.Chunks = set.ChunkNames()
	wk := w.Spec.Worker
	in.Worker.Image = wk.Image
	in.Worker.Command = wk.Command
	in.Worker.Parallelism = wk.Parallelism
	in.Worker.ItemsPerPod = wk.ItemsPerPod
	in.Worker.Completions = Completions(set.Count, in.Worker.ItemsPerPod)
	in.Worker.BackoffLimitPerIndex = wk.BackoffLimitPerIndex
	in.Worker.MaxFailedIndexes = wk.MaxFailedIndexes
	in.Worker.TimeoutSeconds = seconds(wk.Timeout)
	in.Worker.WaitSeconds = seconds(wk.Wait)
	in.Worker.ActiveDeadlineSeconds = seconds(wk.ActiveDeadline)
	in.Worker.TTLSecondsAfterFinished = seconds(wk.TTLAfterFinished)
	in.Worker.BackoffLimit = BackoffLimit(w, set.Count)
	in.Worker.Env = wk.Env
	if in.Worker.Env == nil {
		in.Worker.Env = []workqueue.EnvVar{}
	}
	in.Worker.Resources = requestsFromLimits(wk.Resources)
	b := w.Spec.Broker
	in.Broker.Image = b.Image
	in.Broker.CredentialsSecret = w.CredentialsSecret()
	in.Broker.Resources = requestsFromLimits(b.Resources)
	in.Broker.Storage = b.Storage
	in.Worker.Pod = podOf(wk.PodOptions)
	in.Worker.Volumes = orNone(wk.Volumes)
	in.Worker.VolumeMounts = orNone(wk.VolumeMounts)
	in.Seeder.Pod = podOf(w.Spec.Seeder)
	in.Broker.Pod = podOf(b.PodOptions)
	in.Kueue = w.Spec.Kueue
	in.Broker.Replicas = b.Replicas
	if e := b.External; e != nil {
		in.Broker.External = &external{Host: e.Host, Port: e.BrokerPort(), Vhost: e.Vhost, TLS: e.TLS, CIDRs: e.CIDRs}
		if len(e.CIDRs) == 0 {
			in.Broker.External.CIDRs = []string{"0.0.0.0/0", "::/0"}
		}
	}
	cfg, err := brokerConfigOf(b)
	if err != nil {
		return nil, err
	}
	in.Broker.Config = cfg
	return in, nil
}

// external is spec.broker.external with its defaults filled in.
type external struct {
	Host  string   `json:"host"`
	Port  int      `json:"port"`
	Vhost string   `json:"vhost,omitempty"`
	TLS   bool     `json:"tls"`
	CIDRs []string `json:"cidrs"`
}

// brokerConfig holds the broker settings derived from its resources.
type brokerConfig struct {
	MemoryHighWatermarkBytes int64 `json:"memoryHighWatermarkBytes"`
	DiskFreeLimitBytes       int64 `json:"diskFreeLimitBytes"`
}

// Fractions of the memory limit and of the volume behind the broker's
// alarms. RabbitMQ's production guidance keeps the memory watermark well
// below what the container may use (the Erlang VM allocates beyond what it
// accounts for, and garbage collection can briefly double a process), and
// its default disk limit, 50 MB, is too little for a volume of gigabytes.
const (
	memoryWatermarkFraction = 0.6
	diskFreeFraction        = 0.1
	minDiskFreeBytes        = 48 << 20
)

func brokerConfigOf(b workqueue.Broker) (brokerConfig, error) {
	mem, err := resource.ParseQuantity(string(b.Resources.Limits["memory"]))
	if err != nil {
		return brokerConfig{}, fmt.Errorf("spec.broker.resources.limits.memory: %w", err)
	}
	size, err := resource.ParseQuantity(string(b.Storage.Size))
	if err != nil {
		return brokerConfig{}, fmt.Errorf("spec.broker.storage.size: %w", err)
	}
	return brokerConfig{
		MemoryHighWatermarkBytes: int64(float64(mem.Value()) * memoryWatermarkFraction),
		DiskFreeLimitBytes:       DiskFreeLimit(size.Value()),
	}, nil
}

// DiskFreeLimit is the broker's disk_free_limit for a volume of size
// bytes: a tenth of it, at least 48 MiB, at most half of it.
func DiskFreeLimit(size int64) int64 {
	return min(max(int64(float64(size)*diskFreeFraction), minDiskFreeBytes), size/2)
}

// pod is a component's pod options as the templates take them: fields of
// the PodSpec, and the pod template's labels and annotations.
type pod struct {
	// The options with podLabels and podAnnotations cleared: every other
	// field is named as in the PodSpec, and unset ones are left out.
	Spec        workqueue.PodOptions `json:"spec"`
	Labels      map[string]string    `json:"labels"`
	Annotations map[string]string    `json:"annotations"`
}

func podOf(o workqueue.PodOptions) pod {
	labels, annotations := o.PodLabels, o.PodAnnotations
	o.PodLabels, o.PodAnnotations = nil, nil
	return pod{Spec: o, Labels: orEmpty(labels), Annotations: orEmpty(annotations)}
}

// requestsFromLimits writes out the request of every resource given only
// a limit (an extended resource such as nvidia.com/gpu, which is never
// overcommitted). Kubernetes would default it for a pod, but not in a
// Job's pod template, and Kueue admits Jobs by their templates' requests.
func requestsFromLimits(r workqueue.Resources) workqueue.Resources {
	out := workqueue.Resources{Requests: maps.Clone(r.Requests), Limits: r.Limits}
	if out.Requests == nil {
		out.Requests = map[string]workqueue.Quantity{}
	}
	for name, q := range r.Limits {
		if _, ok := out.Requests[name]; !ok {
			out.Requests[name] = q
		}
	}
	return out
}

// orNone makes a nil list an empty one: the templates concatenate lists.
func orNone[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Completions is how many pods a run's worker Job needs to succeed: one
// per itemsPerPod items.
func Completions(items, perPod int) int { return (items + perPod - 1) / perPod }

// maxDerivedBackoff caps the derived backoffLimit: past this many failed
// pods the failures are the worker's, not its items'.
const maxDerivedBackoff = 1000

// BackoffLimit is the worker Job's backoffLimit: the spec's, or one that
// fits the items' own retries. The broker bounds each item's tries (a
// quorum queue delivers a failing item deliveryLimit + 1 times on
// RabbitMQ 3.x before dead-lettering it), so a Job that failed after six
// failed pods, Kubernetes' default, would give up on healthy items long
// before the broker gave up on the failing ones.
func BackoffLimit(w *workqueue.WorkQueue, items int) int {
	if b := w.Spec.Worker.BackoffLimit; b != nil {
		return *b
	}
	return min(items*(w.Spec.Queue.DeliveryLimit+1), maxDerivedBackoff)
}

// QueueName is the spec's queue, or by default one per run:
// <name>-<run id>.
func QueueName(w *workqueue.WorkQueue, runID string) string {
	if w.Spec.Queue.Name != "" {
		return w.Spec.Queue.Name
	}
	return w.Metadata.Name + "-" + runID
}

// seconds rounds up: a deadline must never be shorter than asked.
func seconds(d workqueue.Duration) int64 {
	s := int64(d.Seconds())
	if float64(s) < d.Seconds() {
		s++
	}
	return max(s, 1)
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// RunID identifies a run: a digest of the items, of everything in the spec
// that reaches the Jobs' immutable pod templates, and of the templates
// themselves. Parallelism is left out because a Job may change it in place.
func RunID(w *workqueue.WorkQueue, set *items.Set) (string, error) {
	c := *w
	c.Spec.Items, c.Spec.ItemsFile = nil, ""
	c.Spec.Worker.Parallelism = 0
	specJSON, err := json.Marshal(struct {
		Spec      workqueue.WorkQueue
		Items     string
		Templates string
	}{c, set.Digest, templateDigest()})
	if err != nil {
		return "", fmt.Errorf("run id: %w", err)
	}
	sum := sha256.Sum256(specJSON)
	return hex.EncodeToString(sum[:])[:10], nil
}

var templateDigest = sync.OnceValue(func() string {
	h := sha256.New()
	_ = fs.WalkDir(jobwqcue.FS, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(jobwqcue.FS, p)
		h.Write([]byte(p))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil))
})

// moduleRoot is where the embedded module appears to the CUE loader. It
// does not exist on disk: the loader reads only the overlay.
const moduleRoot = "/jobwq-embedded/cue"

// overlay presents the embedded module to the loader. (load.Config.FS
// cannot resolve cue.mod/gen imports in v0.17.1.)
var overlay = sync.OnceValues(func() (map[string]load.Source, error) {
	o := map[string]load.Source{}
	err := fs.WalkDir(jobwqcue.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(jobwqcue.FS, p)
		o[moduleRoot+"/"+p] = load.FromBytes(b)
		return err
	})
	return o, err
})

// templates loads the CUE templates package from the embedded module.
func templates() (cue.Value, error) {
	o, err := overlay()
	if err != nil {
		return cue.Value{}, fmt.Errorf("read embedded templates: %w", err)
	}
	insts := load.Instances([]string{"./templates"}, &load.Config{Overlay: o, Dir: moduleRoot, ModuleRoot: moduleRoot})
	if len(insts) != 1 {
		return cue.Value{}, fmt.Errorf("load templates: want one instance, got %d", len(insts))
	}
	if err := insts[0].Err; err != nil {
		return cue.Value{}, fmt.Errorf("load templates: %w", err)
	}
	v := cuecontext.New().BuildInstance(insts[0])
	if err := v.Err(); err != nil {
		return cue.Value{}, fmt.Errorf("build templates: %w", err)
	}
	return v, nil
}

// Rendered is one spec taken all the way to its kustomize tree.
type Rendered struct {
	Spec  *workqueue.WorkQueue
	Items *items.Set
	Files Files
}

// File loads the spec at path, streams its items and renders its tree:
// everything `jobwq build` does before writing.
func File(path string) (*Rendered, error) {
	w, err := workqueue.Load(path)
	if err != nil {
		return nil, err
	}
	return Spec(w)
}

// Spec streams a loaded spec's items and renders its tree.
func Spec(w *workqueue.WorkQueue) (*Rendered, error) {
	set, err := items.Collect(w.Items())
	if err != nil {
		return nil, err
	}
	files, err := Tree(w, set)
	if err != nil {
		return nil, err
	}
	return &Rendered{Spec: w, Items: set, Files: files}, nil
}

// The files of the tree that hold the Jobs (see cue/templates/tree.cue).
const (
	seedJobFile    = "base/seed-job.yaml"
	workJobFile    = "base/work-job.yaml"
	indexedJobFile = "overlays/indexed/indexed-job.yaml"
	// The external variant's Jobs, seeder first.
	externalJobsFile = "overlays/external/jobs.yaml"
)

// IndexedJob returns the indexed variant's Job as rendered.
func (r *Rendered) IndexedJob() (*batchv1.Job, error) {
	job := &batchv1.Job{}
	if err := yaml.UnmarshalStrict(r.Files[indexedJobFile], job); err != nil {
		return nil, fmt.Errorf("read rendered %s: %w", indexedJobFile, err)
	}
	return job, nil
}

// Jobs returns the seeding and worker Jobs as rendered (before kustomize
// adds the item ConfigMaps' hashes to their names).
func (r *Rendered) Jobs() (seed, work *batchv1.Job, err error) {
	var docs [][]byte
	if b, ok := r.Files[externalJobsFile]; ok {
		// A spec with an external broker has one file of its Jobs.
		docs = bytes.Split(b, []byte("\n---\n"))
	} else {
		docs = [][]byte{r.Files[seedJobFile], r.Files[workJobFile]}
		if docs[0] == nil {
			docs = docs[1:]
		}
	}
	jobs := make([]*batchv1.Job, len(docs))
	for i, doc := range docs {
		jobs[i] = &batchv1.Job{}
		if err := yaml.UnmarshalStrict(doc, jobs[i]); err != nil {
			return nil, nil, fmt.Errorf("read rendered Jobs: %w", err)
		}
	}
	switch len(jobs) {
	case 2:
		return jobs[0], jobs[1], nil
	case 1:
		seed, err := seedStep(jobs[0])
		return seed, jobs[0], err
	}
	return nil, nil, fmt.Errorf("read rendered Jobs: want the seeding and the worker Job, found %d documents", len(jobs))
}

// seedStep is the seeding Job a run under Kueue does not have: its worker
// pods seed first, in the init container named seed. A local run runs
// that container once, as the first pod would, before the workers.
func seedStep(work *batchv1.Job) (*batchv1.Job, error) {
	pod := work.Spec.Template.Spec
	for _, c := range pod.InitContainers {
		if c.Name == "seed" {
			seed := work.DeepCopy()
			seed.Spec.Template.Spec.InitContainers = nil
			seed.Spec.Template.Spec.Containers = []corev1.Container{c}
			return seed, nil
		}
	}
	return nil, fmt.Errorf("rendered worker Job %s has neither a seeding Job beside it nor a seed init container", work.Name)
}

// QueueAnnotation is the worker Job's annotation that names its queue.
const QueueAnnotation = "jobwq.dev/queue"

// WriteItems writes the item chunks into dir as the pods' items volume
// holds them: one file per chunk, named by its first item's index.
func (r *Rendered) WriteItems(dir string) error {
	for i, name := range r.Items.ChunkNames() {
		if err := os.WriteFile(filepath.Join(dir, name), r.Items.Chunks[i], 0o644); err != nil {
			return fmt.Errorf("write items: %w", err)
		}
	}
	return nil
}
