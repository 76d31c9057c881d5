// Package spec loads and validates WorkQueue specs: the YAML, JSON or CUE
// document a user writes. It checks each spec against the embedded CUE
// schema (schemas/workqueue.cue), reports every problem with its file, line,
// column and field path, and streams the items without ever handing them to
// the CUE evaluator.
package spec

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cuelang.org/go/cue"
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
}

type Metadata struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type Spec struct {
	Items     []string `json:"items,omitempty"`
	ItemsFile string   `json:"itemsFile,omitempty"`
	Queue     Queue    `json:"queue"`
	Worker    Worker   `json:"worker"`
	Broker    Broker   `json:"broker"`
	Runner    Runner   `json:"runner"`
}

type Queue struct {
	Name          string `json:"name,omitempty"`
	Type          string `json:"type"`
	DeliveryLimit int    `json:"deliveryLimit"`
}

type Worker struct {
	Image            string    `json:"image"`
	Command          []string  `json:"command"`
	Parallelism      int       `json:"parallelism"`
	Timeout          Duration  `json:"timeout"`
	Wait             Duration  `json:"wait"`
	ActiveDeadline   Duration  `json:"activeDeadline"`
	TTLAfterFinished Duration  `json:"ttlAfterFinished"`
	BackoffLimit     int       `json:"backoffLimit"`
	Env              []EnvVar  `json:"env,omitempty"`
	Resources        Resources `json:"resources"`
}

type Broker struct {
	Image             string    `json:"image"`
	CredentialsSecret string    `json:"credentialsSecret,omitempty"`
	Resources         Resources `json:"resources"`
	Storage           Storage   `json:"storage"`
}

type Storage struct {
	Size             string `json:"size"`
	StorageClassName string `json:"storageClassName,omitempty"`
}

type Runner struct {
	Image string `json:"image"`
}

// Resources are Kubernetes requests and limits, by resource name.
type Resources struct {
	Requests map[string]string `json:"requests"`
	Limits   map[string]string `json:"limits"`
}

// EnvVar is a Kubernetes EnvVar, limited to what a worker needs.
type EnvVar struct {
	Name      string        `json:"name"`
	Value     *string       `json:"value,omitempty"`
	ValueFrom *EnvVarSource `json:"valueFrom,omitempty"`
}

type EnvVarSource struct {
	SecretKeyRef    *KeyRef   `json:"secretKeyRef,omitempty"`
	ConfigMapKeyRef *KeyRef   `json:"configMapKeyRef,omitempty"`
	FieldRef        *FieldRef `json:"fieldRef,omitempty"`
}

type KeyRef struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Optional *bool  `json:"optional,omitempty"`
}

type FieldRef struct {
	FieldPath string `json:"fieldPath"`
}

// Duration is a time.Duration written as a Go duration string ("90s").
type Duration struct{ time.Duration }

func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

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
// Problems with the spec come back as Errors (exit 1); failing to read it is
// any other error (exit 2).
func Load(path string) (*WorkQueue, error) {
	path, err := resolve(path)
	if err != nil {
		return nil, err
	}
	f, ok := formatOf(path)
	if !ok {
		return nil, fmt.Errorf("%s: unknown spec format: want a .yaml, .yml, .json or .cue file", path)
	}
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	return load(path, data, f)
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
		return nil, Errors{errorf(Position{File: name}, "", "spec is %d bytes, at most %d are allowed (put large item lists in itemsFile)", len(data), MaxSpecBytes)}
	}
	return load(name, data, f)
}

func resolve(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("read spec: %w", err)
	}
	if !fi.IsDir() {
		return path, nil
	}
	var found []string
	for _, n := range specFileNames {
		p := filepath.Join(path, n)
		if _, err := os.Stat(p); err == nil {
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
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSpecBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	if len(data) > MaxSpecBytes {
		return nil, Errors{errorf(Position{File: path}, "", "spec is larger than %d bytes (put large item lists in itemsFile)", MaxSpecBytes)}
	}
	return data, nil
}

func load(path string, data []byte, f format) (*WorkQueue, error) {
	p, err := parse(path, data, f)
	if err != nil {
		return nil, err
	}
	v, err := validate(p)
	if err != nil {
		return nil, err
	}
	w := &WorkQueue{Path: path}
	if err := v.Decode(w); err != nil {
		// The schema admits only what decodes; reaching here is a bug.
		return nil, fmt.Errorf("decode validated spec %s: %w", path, err)
	}
	if p.format != formatCUE {
		w.Spec.Items = p.items
	} else if err := cueItems(v, w); err != nil {
		return nil, err
	}
	if err := checkCrossField(v, w); err != nil {
		return nil, err
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
		return Errors{errorf(positionOf(list.Pos()), "spec.items", "expected a list of strings")}
	}
	var errs Errors
	items := []string{}
	for i := 0; it.Next(); i++ {
		s, err := it.Value().String()
		path := fmt.Sprintf("spec.items[%d]", i)
		if err != nil {
			errs = append(errs, errorf(positionOf(it.Value().Pos()), path, "expected a string"))
			continue
		}
		if msg := checkItem(s); msg != "" {
			errs = append(errs, errorf(positionOf(it.Value().Pos()), path, "%s", msg))
			continue
		}
		items = append(items, s)
	}
	if len(items) == 0 && len(errs) == 0 {
		errs = append(errs, errorf(positionOf(list.Pos()), "spec.items", "must not be empty: give at least one item"))
	}
	if len(errs) > 0 {
		return errs
	}
	w.Spec.Items = items
	return nil
}

// checkCrossField enforces what the schema cannot state without hiding its
// other errors: exactly one item source, a file that stays in the spec's
// directory, and byte limits.
func checkCrossField(v cue.Value, w *WorkQueue) error {
	specPos := positionOf(v.LookupPath(cue.ParsePath("spec")).Pos())
	hasItems := v.LookupPath(cue.ParsePath("spec.items")).Exists()
	hasFile := w.Spec.ItemsFile != ""
	var errs Errors
	switch {
	case hasItems && hasFile:
		pos := positionOf(v.LookupPath(cue.ParsePath("spec.itemsFile")).Pos())
		errs = append(errs, errorf(pos, "spec", "set exactly one of items and itemsFile, not both"))
	case !hasItems && !hasFile:
		errs = append(errs, errorf(specPos, "spec", "set exactly one of items and itemsFile: the spec has no items"))
	case hasFile:
		pos := positionOf(v.LookupPath(cue.ParsePath("spec.itemsFile")).Pos())
		p, err := itemsPath(w.Path, w.Spec.ItemsFile)
		if err != nil {
			errs = append(errs, errorf(pos, "spec.itemsFile", "%v", err))
		}
		w.itemsPath = p
	}
	if q := w.Spec.Queue.Name; len(q) > 255 {
		pos := positionOf(v.LookupPath(cue.ParsePath("spec.queue.name")).Pos())
		errs = append(errs, errorf(pos, "spec.queue.name", "is %d bytes, at most 255 are allowed", len(q)))
	}
	for i, e := range w.Spec.Worker.Env {
		if (e.Value == nil) == (e.ValueFrom == nil) {
			// A struct's own position is the schema's; its name is the user's.
			pos := positionOf(v.LookupPath(cue.ParsePath(fmt.Sprintf("spec.worker.env[%d].name", i))).Pos())
			errs = append(errs, errorf(pos, fmt.Sprintf("spec.worker.env[%d]", i), "set exactly one of value and valueFrom"))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
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
		return p, fmt.Errorf("%s does not exist", displayPath(p))
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
		return p, fmt.Errorf("%s is not a regular file", displayPath(p))
	}
	return p, nil
}

func cwd() string {
	d, _ := os.Getwd()
	return d
}
