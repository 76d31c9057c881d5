package workqueue

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"cuelang.org/go/cue"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/jobwq/jobwq/internal/position"
	"github.com/jobwq/jobwq/internal/position/cuepos"
)

// What the rules below say, where the JSON Schema says it too
// (jsonschema_rules.go): an editor shows the same words as vet.
const (
	msgWhole          = "must be a whole number"
	msgPositive       = "must be a positive quantity"
	msgEmptyKey       = "must be Exists when key is empty"
	msgExistsValue    = "must be empty when operator is Exists"
	msgTolSeconds     = "is only allowed with effect NoExecute"
	msgEnvOneOf       = "set exactly one of value and valueFrom"
	msgVolumeOneOf    = "set exactly one of configMap, secret, persistentVolumeClaim and emptyDir"
	msgReservedVolume = "is a volume jobwq adds itself (jobwq, tmp, items): choose another name"
	msgReservedMount  = "is inside a path jobwq owns (/opt/jobwq, /tmp, /items): choose another path"
	msgAtLeastSecond  = "must be at least 1s"

	msgNoItems         = "must not be empty: give at least one item"
	msgNoItemSource    = "set exactly one of items and itemsFile: the spec has no items"
	msgBothItemSources = "set exactly one of items and itemsFile, not both"
)

// Volumes and mount paths the worker pods have already: a spec may not
// reuse them.
var (
	reservedVolumes    = []string{"jobwq", "tmp", "items"}
	reservedMountPaths = []string{"/opt/jobwq", "/tmp", "/items"}
)

// maxQueueBytes leaves room in AMQP's 255-byte names for the suffixes of
// the queue's companions.
const maxQueueBytes = 250

// A checker holds a spec to the rules the schema does not state: those
// across fields (a request above its limit, activeDeadline below timeout,
// a mount of a volume that is not there), and those that need Go
// (quantities parsed as the API server parses them, paths cleaned). It
// runs on a valid spec, and on what the schema accepted of an invalid one
// (accepted): refused says which values the schema refused, which the
// rules then leave alone, so that vet tells every problem in one run and
// none twice.
type checker struct {
	v       cue.Value
	w       *WorkQueue
	refused func(path string) bool
	errs    position.Errors
}

// crossField runs every rule of the checker over w, which v (the spec
// unified with the schema) holds the positions of.
func crossField(v cue.Value, w *WorkQueue, refused func(string) bool) position.Errors {
	c := &checker{v: v, w: w, refused: refused}
	c.queueName()
	c.durations()
	c.resources("spec.worker.resources", w.Spec.Worker.Resources)
	c.resources("spec.broker.resources", w.Spec.Broker.Resources)
	c.pods()
	c.storage()
	c.env()
	return c.errs
}

// sound reports whether the schema accepted every value at or under paths.
func (c *checker) sound(paths ...string) bool {
	return !slices.ContainsFunc(paths, c.refused)
}

func (c *checker) add(path, format string, args ...any) {
	c.errs = append(c.errs, position.Errorf(posOf(c.v, path), path, format, args...))
}

// addKey is an error at key of the map at path, a key that may hold dots
// and slashes (nvidia.com/gpu), quoted in the path as CUE quotes it.
func (c *checker) addKey(path, key, format string, args ...any) {
	sels := append(cue.ParsePath(path).Selectors(), cue.Str(key))
	pos := cuepos.Of(c.v.LookupPath(cue.MakePath(sels...)).Pos())
	c.errs = append(c.errs, position.Errorf(pos, path+"."+pathLabel(key), format, args...))
}

func (c *checker) queueName() {
	if q := c.w.Spec.Queue.Name; len(q) > maxQueueBytes && c.sound("spec.queue.name") {
		c.add("spec.queue.name", "is %d bytes, at most %d are allowed", len(q), maxQueueBytes)
	}
}

// durations: a deadline of zero would fail every item at once.
func (c *checker) durations() {
	wk := c.w.Spec.Worker
	for _, d := range []struct {
		path string
		d    Duration
		min  time.Duration
	}{
		{"spec.worker.timeout", wk.Timeout, time.Second},
		{"spec.worker.wait", wk.Wait, time.Second},
		{"spec.worker.activeDeadline", wk.ActiveDeadline, time.Second},
		{"spec.worker.ttlAfterFinished", wk.TTLAfterFinished, 0},
	} {
		if d.d.Duration < d.min && c.sound(d.path) {
			c.add(d.path, "must be at least %v, found %v", d.min, d.d.Duration)
		}
	}
	if wk.ActiveDeadline.Duration < wk.Timeout.Duration && c.sound("spec.worker.activeDeadline", "spec.worker.timeout") {
		c.add("spec.worker.activeDeadline", "must be at least spec.worker.timeout (%v): the Job would end before one item may", wk.Timeout.Duration)
	}
}

// resources parses quantities as the API server will, rejects requests
// above limits, which it would refuse, and holds extended resources and
// hugepages to what Kubernetes wants of them (extended).
func (c *checker) resources(path string, r Resources) {
	parse := func(kind, name string, s Quantity) (resource.Quantity, bool) {
		p := fmt.Sprintf("%s.%s.%s", path, kind, pathLabel(name))
		q, err := resource.ParseQuantity(string(s))
		if err != nil || q.Sign() <= 0 {
			c.add(p, "%s such as 500m or 1Gi, found %q", msgPositive, s)
			return q, false
		}
		return q, true
	}
	for _, name := range slices.Sorted(maps.Keys(r.Requests)) {
		req, lim := path+".requests."+pathLabel(name), path+".limits."+pathLabel(name)
		if _, ok := r.Limits[name]; !ok || isExtended(name) || !c.sound(req, lim) {
			continue // extended reports a missing limit
		}
		rq, ok := parse("requests", name, r.Requests[name])
		lq, ok2 := parse("limits", name, r.Limits[name])
		if ok && ok2 && rq.Cmp(lq) > 0 {
			c.add(req, "request %s is above the limit %s", r.Requests[name], r.Limits[name])
		}
	}
	c.extended(path, r)
}

// isExtended: extended resources and hugepages, which Kubernetes does not
// overcommit.
func isExtended(name string) bool {
	return name != "cpu" && name != "memory" && name != "ephemeral-storage"
}

// extended: Kubernetes wants a limit, a request (if any) equal to it and,
// for extended resources, a whole number.
func (c *checker) extended(path string, r Resources) {
	names := slices.Sorted(maps.Keys(r.Limits))
	for _, n := range slices.Sorted(maps.Keys(r.Requests)) {
		if _, ok := r.Limits[n]; !ok {
			names = append(names, n)
		}
	}
	for _, name := range names {
		req, lim := path+".requests."+pathLabel(name), path+".limits."+pathLabel(name)
		if !isExtended(name) || !c.sound(req, lim) {
			continue
		}
		limit, hasLim := r.Limits[name]
		request, hasReq := r.Requests[name]
		lq, err := resource.ParseQuantity(string(limit))
		switch {
		case !hasLim:
			c.addKey(path+".requests", name, "needs a limit: Kubernetes does not overcommit %s, so set its limit (the request defaults to it)", name)
		case err != nil || lq.Sign() <= 0:
			c.addKey(path+".limits", name, "%s, found %q", msgPositive, limit)
		case !strings.HasPrefix(name, "hugepages-") && lq.MilliValue()%1000 != 0:
			c.addKey(path+".limits", name, "%s, found %s", msgWhole, limit)
		case hasReq:
			if rq, err := resource.ParseQuantity(string(request)); err != nil || rq.Cmp(lq) != 0 {
				c.addKey(path+".requests", name, "must equal the limit %s: Kubernetes does not overcommit %s", limit, name)
			}
		}
	}
}

// pods: what Kubernetes' validation would refuse in the pod options and
// the schema cannot say field by field: tolerations that make sense, pod
// labels that do not contradict metadata.labels, the worker's volumes.
func (c *checker) pods() {
	w := c.w
	for _, o := range []struct {
		path string
		o    *PodOptions
	}{
		{"spec.worker", &w.Spec.Worker.PodOptions},
		{"spec.seeder", &w.Spec.Seeder},
		{"spec.broker", &w.Spec.Broker.PodOptions},
	} {
		for i, t := range o.o.Tolerations {
			p := fmt.Sprintf("%s.tolerations[%d]", o.path, i)
			if !c.sound(p) {
				continue
			}
			switch {
			case t.Key == "" && t.Operator != corev1.TolerationOpExists:
				c.add(p+".operator", "%s", msgEmptyKey)
			case t.Operator == corev1.TolerationOpExists && t.Value != "":
				c.add(p+".value", "%s", msgExistsValue)
			}
			if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
				c.add(p+".tolerationSeconds", "%s", msgTolSeconds)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(o.o.PodLabels)) {
			if !c.sound(o.path+".podLabels."+pathLabel(k), "metadata.labels."+pathLabel(k)) {
				continue
			}
			if m, ok := w.Metadata.Labels[k]; ok && m != o.o.PodLabels[k] {
				c.addKey(o.path+".podLabels", k, "is %q in metadata.labels: a pod label may not contradict it", m)
			}
		}
	}
	c.volumes()
}

func (c *checker) volumes() {
	vols, mounts := c.w.Spec.Worker.Volumes, c.w.Spec.Worker.VolumeMounts
	seen := map[string]int{}
	allSound := true
	for i, vol := range vols {
		p := fmt.Sprintf("spec.worker.volumes[%d]", i)
		if !c.sound(p) {
			allSound = false
			continue
		}
		if slices.Contains(reservedVolumes, vol.Name) {
			c.add(p+".name", "%q %s", vol.Name, msgReservedVolume)
		}
		if first, dup := seen[vol.Name]; dup {
			c.add(p+".name", "duplicate volume %q (first at spec.worker.volumes[%d])", vol.Name, first)
		}
		seen[vol.Name] = i
		n := 0
		for _, set := range []bool{vol.ConfigMap != nil, vol.Secret != nil, vol.PersistentVolumeClaim != nil, vol.EmptyDir != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			c.add(p+".name", "%s", msgVolumeOneOf)
		}
		if vol.EmptyDir != nil && vol.EmptyDir.SizeLimit != "" {
			if q, err := resource.ParseQuantity(string(vol.EmptyDir.SizeLimit)); err != nil || q.Sign() <= 0 {
				c.add(p+".emptyDir.sizeLimit", "%s such as 1Gi", msgPositive)
			}
		}
	}
	paths := map[string]int{}
	for i, m := range mounts {
		p := fmt.Sprintf("spec.worker.volumeMounts[%d]", i)
		if !c.sound(p) {
			continue
		}
		// A volume the schema refused may be the one meant.
		if _, ok := seen[m.Name]; !ok && allSound {
			c.add(p+".name", "no volume %q in spec.worker.volumes", m.Name)
		}
		clean := path.Clean(m.MountPath)
		for _, r := range reservedMountPaths {
			if clean == r || strings.HasPrefix(clean, r+"/") {
				c.add(p+".mountPath", "%s %s", m.MountPath, msgReservedMount)
			}
		}
		if clean == "/" {
			c.add(p+".mountPath", "must not be /")
		}
		if first, dup := paths[clean]; dup {
			c.add(p+".mountPath", "duplicate mount path %s (first at spec.worker.volumeMounts[%d])", m.MountPath, first)
		}
		paths[clean] = i
	}
}

func (c *checker) storage() {
	if !c.sound("spec.broker.storage.size") {
		return
	}
	if q, err := resource.ParseQuantity(string(c.w.Spec.Broker.Storage.Size)); err != nil || q.Sign() <= 0 {
		c.add("spec.broker.storage.size", "%s such as 1Gi", msgPositive)
	}
}

func (c *checker) env() {
	seen := map[string]int{}
	for i, e := range c.w.Spec.Worker.Env {
		path := fmt.Sprintf("spec.worker.env[%d]", i)
		if !c.sound(path) {
			continue
		}
		if first, dup := seen[e.Name]; dup {
			c.add(path+".name", "duplicate variable %q (first at spec.worker.env[%d])", e.Name, first)
		}
		seen[e.Name] = i
		if (e.Value == nil) == (e.ValueFrom == nil) {
			// A struct's own position is the schema's; its name is the
			// user's.
			c.errs = append(c.errs, position.Errorf(posOf(c.v, path+".name"), path, "%s", msgEnvOneOf))
		}
	}
}

// keyErrorf is an error at key of the map at path, a key that may hold
// dots and slashes (nvidia.com/gpu), quoted in the path as CUE quotes it.
func keyErrorf(v cue.Value, path, key, format string, args ...any) *position.Error {
	c := &checker{v: v}
	c.addKey(path, key, format, args...)
	return c.errs[0]
}

// pathLabel is key as CUE writes it in an error's path: quoted unless it
// is an identifier. Every error about one field then has the same path,
// which is how vet drops the duplicates.
func pathLabel(key string) string {
	return cue.Str(key).String()
}
