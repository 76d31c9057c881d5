// Package workqueue loads and validates WorkQueue specs: the YAML, JSON or CUE
// document a user writes. It checks each spec against the embedded CUE
// schema (schemas/workqueue.cue), reports every problem with its file, line,
// column and field path, and streams the items without ever handing them to
// the CUE evaluator.
package workqueue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cuelang.org/go/cue"

	"github.com/jobwq/jobwq/internal/items"
	"github.com/jobwq/jobwq/internal/position"
	"github.com/jobwq/jobwq/internal/position/cuepos"
)

// MaxSpecBytes bounds a spec file. Large item lists belong in itemsFile,
// which is streamed.
const MaxSpecBytes = 4 << 20

// Names of the spec file looked up when Load is given a directory.
var specFileNames = []string{"workqueue.yaml", "workqueue.yml", "workqueue.json", "workqueue.cue"}

// WorkQueue is a validated spec with the schema's defaults filled in.
type WorkQueue struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`

	// Path is the spec file as the user named it (or as found in the
	// directory they named).
	Path string `json:"-"`
	// itemsPath is spec.itemsFile resolved against the spec's directory.
	itemsPath string
	// itemPos are the positions of inline items, in order.
	itemPos []position.Position
}

// Metadata names the run: every object jobwq renders is prefixed with
// Name, lives in Namespace and carries Labels and Annotations.
type Metadata struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Spec is what to run: the items (inline or from ItemsFile), their queue,
// the worker, the broker and the jobwq runner image.
type Spec struct {
	Items     []string `json:"items,omitempty"`
	ItemsFile string   `json:"itemsFile,omitempty"`
	Queue     Queue    `json:"queue"`
	Worker    Worker   `json:"worker"`
	Broker    Broker   `json:"broker"`
	Runner    Runner   `json:"runner"`
	// Seeder is the seeding Job's pod options.
	Seeder PodOptions `json:"seeder"`
	Kueue  *Kueue     `json:"kueue,omitempty"`
	// ImagePullPolicy is every container's; empty leaves the field out.
	ImagePullPolicy string `json:"imagePullPolicy,omitempty"`
}

// Queue is the run's RabbitMQ queue; an empty Name means one per run.
type Queue struct {
	Name          string `json:"name,omitempty"`
	Type          string `json:"type"`
	DeliveryLimit int    `json:"deliveryLimit"`
}

// Worker is the pod that processes one item: its image and command, how
// many run at once, and the deadlines and retries of the worker Job.
type Worker struct {
	Image       string   `json:"image"`
	Command     []string `json:"command"`
	Parallelism int      `json:"parallelism"`
	ItemsPerPod int      `json:"itemsPerPod"`
	// BackoffLimitPerIndex and MaxFailedIndexes are the indexed variant's.
	BackoffLimitPerIndex int       `json:"backoffLimitPerIndex"`
	MaxFailedIndexes     *int      `json:"maxFailedIndexes,omitempty"`
	Timeout              Duration  `json:"timeout"`
	Wait                 Duration  `json:"wait"`
	ActiveDeadline       Duration  `json:"activeDeadline"`
	TTLAfterFinished     Duration  `json:"ttlAfterFinished"`
	BackoffLimit         *int      `json:"backoffLimit,omitempty"`
	Env                  []EnvVar  `json:"env,omitempty"`
	Resources            Resources `json:"resources"`
	PodOptions
	Volumes      []Volume      `json:"volumes,omitempty"`
	VolumeMounts []VolumeMount `json:"volumeMounts,omitempty"`
}

// Broker is the RabbitMQ jobwq renders for the run.
type Broker struct {
	Image             string    `json:"image"`
	CredentialsSecret string    `json:"credentialsSecret,omitempty"`
	Resources         Resources `json:"resources"`
	Storage           Storage   `json:"storage"`
	// Replicas is the rabbitmqcluster variant's node count.
	Replicas int       `json:"replicas"`
	External *External `json:"external,omitempty"`
	PodOptions
}

// Storage is the broker's volume (the statefulset variant's claim, the
// emptyDir's size limit elsewhere).
type Storage struct {
	Size             Quantity `json:"size"`
	StorageClassName string   `json:"storageClassName,omitempty"`
}

// Runner is the jobwq image that seeds the queue and supplies jobwq work
// to the worker pods.
type Runner struct {
	Image string `json:"image"`
}

// Resources are Kubernetes requests and limits, by resource name.
type Resources struct {
	Requests map[string]Quantity `json:"requests"`
	Limits   map[string]Quantity `json:"limits"`
}

// Quantity is a Kubernetes quantity as the user wrote it, numbers included
// ("2" for cpu: 2).
type Quantity string

// UnmarshalJSON keeps a quantity written as a number in its written form.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	if s, err := strconv.Unquote(string(b)); err == nil {
		*q = Quantity(s)
		return nil
	}
	*q = Quantity(b)
	return nil
}

// EnvVar is a Kubernetes EnvVar, limited to what a worker needs.
type EnvVar struct {
	Name      string        `json:"name"`
	Value     *string       `json:"value,omitempty"`
	ValueFrom *EnvVarSource `json:"valueFrom,omitempty"`
}

// EnvVarSource is where a variable's value comes from in the cluster.
type EnvVarSource struct {
	SecretKeyRef    *KeyRef   `json:"secretKeyRef,omitempty"`
	ConfigMapKeyRef *KeyRef   `json:"configMapKeyRef,omitempty"`
	FieldRef        *FieldRef `json:"fieldRef,omitempty"`
}

// KeyRef selects a key of a Secret or ConfigMap.
type KeyRef struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Optional *bool  `json:"optional,omitempty"`
}

// FieldRef selects a field of the pod.
type FieldRef struct {
	FieldPath string `json:"fieldPath"`
}

// Duration is a time.Duration written as a Go duration string ("90s").
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as Go prints it ("1h0m0s").
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// CredentialsSecret is the Secret holding the broker's username and
// password.
func (w *WorkQueue) CredentialsSecret() string {
	if s := w.Spec.Broker.CredentialsSecret; s != "" {
		return s
	}
	return w.Metadata.Name + "-broker"
}

// Load reads, parses and validates the spec at path, which may also be a
// directory holding one of workqueue.{yaml,yml,json,cue}.
//
// Problems with the spec come back as position.Errors (exit 1); failing to read it is
// any other error (exit 2).
func Load(path string) (*WorkQueue, error) { return LoadWith(context.Background(), path, Options{}) }

// Options change where a spec and its items are read from.
type Options struct {
	// Items names a file of items, which may be anywhere (CI often
	// generates items elsewhere), read instead of spec.items or
	// spec.itemsFile, which the spec may then leave out. The file gets
	// itemsFile's checks: a regular file, one valid item per line.
	Items string
	// Stdin is where the spec path Stdin ("-") is read from: YAML or JSON,
	// with a relative itemsFile resolved against the working directory.
	Stdin io.Reader
}

// LoadWith is Load with Options, given up (with a *LimitError) when ctx
// ends or loading goes past the Limits.
func LoadWith(ctx context.Context, path string, o Options) (*WorkQueue, error) {
	if o.Items != "" {
		fi, err := os.Stat(o.Items)
		if err != nil {
			return nil, fmt.Errorf("read items: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("read items: %s is not a regular file", position.Display(o.Items))
		}
	}
	var name string
	var data []byte
	var f format
	var err error
	if path == Stdin && o.Stdin != nil {
		name, f = stdinName, formatYAML
		data, err = readStdin(o.Stdin)
	} else {
		name, data, f, err = readSpec(path)
	}
	if err != nil {
		return nil, err
	}
	return bounded(ctx, name, func() (*WorkQueue, error) {
		if o.Items != "" {
			return loadWithItems(name, data, f, o.Items)
		}
		return load(name, data, f)
	})
}

// readSpec resolves path (a spec file, or a directory holding one) and
// reads it within the size limit; it returns the resolved path and the
// format its extension names.
func readSpec(path string) (string, []byte, format, error) {
	path, err := resolve(path)
	if err != nil {
		return "", nil, 0, err
	}
	f, ok := formatOf(path)
	if !ok {
		return "", nil, 0, fmt.Errorf("%s: unknown spec format: want a .yaml, .yml, .json or .cue file", path)
	}
	data, err := readLimited(path)
	if err != nil {
		return "", nil, 0, err
	}
	return path, data, f, nil
}

// Parse validates a spec held in memory; name stands for its path in
// positions and decides the format by its extension. A relative itemsFile
// is resolved against name's directory.
func Parse(name string, data []byte) (*WorkQueue, error) {
	f, ok := formatOf(name)
	if !ok {
		return nil, fmt.Errorf("%s: unknown spec format: want a .yaml, .yml, .json or .cue file", name)
	}
	if len(data) > MaxSpecBytes {
		return nil, position.Errors{position.Errorf(position.Position{File: name}, "", "spec is %d bytes, at most %d are allowed (put large item lists in itemsFile)", len(data), MaxSpecBytes)}
	}
	return bounded(context.Background(), name, func() (*WorkQueue, error) { return load(name, data, f) })
}

func resolve(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("read spec: %w", err)
	}
	if !fi.IsDir() {
		return path, regular(path, fi)
	}
	var found []string
	for _, n := range specFileNames {
		p := filepath.Join(path, n)
		if fi, err := os.Stat(p); err == nil {
			if err := regular(p, fi); err != nil {
				return "", err
			}
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("read spec: %s is a directory without a spec: want one of %s", path, strings.Join(specFileNames, ", "))
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("read spec: %s holds more than one spec (%s): name the file", path, strings.Join(found, ", "))
}

func readLimited(path string) ([]byte, error) {
	// Non-blocking, so that a named pipe put in the file's place after
	// resolve looked cannot hang the open; the file is checked again.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	} else if err := regular(path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSpecBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	if len(data) > MaxSpecBytes {
		return nil, position.Errors{position.Errorf(position.Position{File: path}, "", "spec is larger than %d bytes (put large item lists in itemsFile)", MaxSpecBytes)}
	}
	return data, nil
}

// validated checks p against the schema and decodes it; v is the
// validated value.
func validated(p *parsed, path string) (v cue.Value, w *WorkQueue, err error) {
	if v, err = validate(p); err != nil {
		return v, nil, err
	}
	w = &WorkQueue{Path: path}
	if err := v.Decode(w); err != nil {
		// The schema admits only what decodes; reaching here is a bug.
		return v, nil, fmt.Errorf("decode validated spec %s: %w", path, err)
	}
	return v, w, nil
}

func load(path string, data []byte, f format) (*WorkQueue, error) {
	p, err := parse(path, data, f)
	if err != nil {
		return nil, err
	}
	v, w, err := validated(p, path)
	if err != nil {
		return nil, err
	}
	if p.format != formatCUE {
		w.Spec.Items, w.itemPos = p.items, p.itemPos
	} else if err := cueItems(v, w); err != nil {
		return nil, err
	}
	if err := checkCrossField(v, w); err != nil {
		return nil, alsoItems(err, p)
	}
	return w, nil
}

// cueItems reads the items a CUE spec computed; each is checked like an
// inline YAML item.
func cueItems(v cue.Value, w *WorkQueue) error {
	list := v.LookupPath(cue.ParsePath("spec.items"))
	if !list.Exists() {
		return nil
	}
	it, err := list.List()
	if err != nil {
		return position.Errors{position.Errorf(cuepos.Of(list.Pos()), "spec.items", "expected a list of strings")}
	}
	var errs position.Errors
	found := []string{}
	for i := 0; it.Next(); i++ {
		s, err := it.Value().String()
		path := fmt.Sprintf("spec.items[%d]", i)
		if err != nil {
			errs = append(errs, position.Errorf(cuepos.Of(it.Value().Pos()), path, "expected a string"))
			continue
		}
		if msg := items.Check(s); msg != "" {
			errs = append(errs, position.Errorf(cuepos.Of(it.Value().Pos()), path, "%s", msg))
			continue
		}
		found = append(found, s)
		w.itemPos = append(w.itemPos, cuepos.Of(it.Value().Pos()))
	}
	if len(found) == 0 && len(errs) == 0 {
		errs = append(errs, position.Errorf(cuepos.Of(list.Pos()), "spec.items", "%s", msgNoItems))
	}
	if len(errs) > 0 {
		return errs
	}
	w.Spec.Items = found
	return nil
}

// checkCrossField enforces what the schema cannot state without hiding its
// other errors: exactly one item source, a file that stays in the spec's
// directory, and the rules of crossField.
func checkCrossField(v cue.Value, w *WorkQueue) error {
	specPos := cuepos.Of(v.LookupPath(cue.ParsePath("spec")).Pos())
	hasItems := v.LookupPath(cue.ParsePath("spec.items")).Exists()
	hasFile := w.Spec.ItemsFile != ""
	var errs position.Errors
	switch {
	case hasItems && hasFile:
		pos := cuepos.Of(v.LookupPath(cue.ParsePath("spec.itemsFile")).Pos())
		errs = append(errs, position.Errorf(pos, "spec", "%s", msgBothItemSources))
	case !hasItems && !hasFile:
		errs = append(errs, position.Errorf(specPos, "spec", "%s", msgNoItemSource))
	case hasFile:
		pos := cuepos.Of(v.LookupPath(cue.ParsePath("spec.itemsFile")).Pos())
		p, err := itemsPath(w.Path, w.Spec.ItemsFile)
		if err != nil {
			errs = append(errs, position.Errorf(pos, "spec.itemsFile", "%v", err))
		}
		w.itemsPath = p
	}
	errs = append(errs, crossField(v, w, func(string) bool { return false })...)
	if len(errs) > 0 {
		return capErrors(errs)
	}
	return nil
}

// posOf is the user's position of a concrete field of the validated spec.
func posOf(v cue.Value, path string) position.Position {
	return cuepos.Of(v.LookupPath(cue.ParsePath(path)).Pos())
}

// itemsPath resolves an items file and checks that it stays inside the
// spec's directory, symbolic links included.
func itemsPath(specPath, rel string) (string, error) {
	dir := filepath.Dir(specPath)
	p := filepath.Join(dir, filepath.FromSlash(rel))
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return p, err
	}
	realPath, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) {
		return p, fmt.Errorf("%s does not exist", position.Display(p))
	}
	if err != nil {
		return p, err
	}
	if r, err := filepath.Rel(realDir, realPath); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return p, fmt.Errorf("%s leads outside the spec's directory", rel)
	}
	fi, err := os.Stat(realPath)
	if err != nil {
		return p, err
	}
	if !fi.Mode().IsRegular() {
		return p, fmt.Errorf("%s is not a regular file", position.Display(p))
	}
	return p, nil
}
