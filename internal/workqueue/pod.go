package workqueue

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"cuelang.org/go/cue"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/jobwq/jobwq/internal/position"
	"github.com/jobwq/jobwq/internal/position/cuepos"
)

// PodOptions are the pod settings a component's pods may carry, named and
// shaped as in the Kubernetes PodSpec (the types are k8s.io/api's where
// the schema admits all of theirs). Security settings are not among them:
// jobwq's pods meet restricted Pod Security whatever the spec says.
type PodOptions struct {
	NodeSelector              map[string]string                 `json:"nodeSelector,omitempty"`
	Tolerations               []corev1.Toleration               `json:"tolerations,omitempty"`
	Affinity                  *corev1.Affinity                  `json:"affinity,omitempty"`
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	PriorityClassName         string                            `json:"priorityClassName,omitempty"`
	ImagePullSecrets          []corev1.LocalObjectReference     `json:"imagePullSecrets,omitempty"`
	ServiceAccountName        string                            `json:"serviceAccountName,omitempty"`
	PodLabels                 map[string]string                 `json:"podLabels,omitempty"`
	PodAnnotations            map[string]string                 `json:"podAnnotations,omitempty"`
}

// Volume is a worker volume of one of the types restricted Pod Security
// allows that a worker needs; exactly one source is set.
type Volume struct {
	Name                  string                 `json:"name"`
	ConfigMap             *ConfigMapVolume       `json:"configMap,omitempty"`
	Secret                *SecretVolume          `json:"secret,omitempty"`
	PersistentVolumeClaim *PersistentVolumeClaim `json:"persistentVolumeClaim,omitempty"`
	EmptyDir              *EmptyDir              `json:"emptyDir,omitempty"`
}

// ConfigMapVolume is corev1.ConfigMapVolumeSource.
type ConfigMapVolume struct {
	Name        string      `json:"name"`
	Items       []KeyToPath `json:"items,omitempty"`
	DefaultMode *int        `json:"defaultMode,omitempty"`
	Optional    *bool       `json:"optional,omitempty"`
}

// SecretVolume is corev1.SecretVolumeSource.
type SecretVolume struct {
	SecretName  string      `json:"secretName"`
	Items       []KeyToPath `json:"items,omitempty"`
	DefaultMode *int        `json:"defaultMode,omitempty"`
	Optional    *bool       `json:"optional,omitempty"`
}

// KeyToPath is corev1.KeyToPath.
type KeyToPath struct {
	Key  string `json:"key"`
	Path string `json:"path"`
	Mode *int   `json:"mode,omitempty"`
}

// PersistentVolumeClaim is corev1.PersistentVolumeClaimVolumeSource.
type PersistentVolumeClaim struct {
	ClaimName string `json:"claimName"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// EmptyDir is corev1.EmptyDirVolumeSource.
type EmptyDir struct {
	Medium    string   `json:"medium,omitempty"`
	SizeLimit Quantity `json:"sizeLimit,omitempty"`
}

// VolumeMount is corev1.VolumeMount, limited to what a worker needs.
type VolumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
	SubPath   string `json:"subPath,omitempty"`
}

// Kueue names the LocalQueue that admits the run's Jobs.
type Kueue struct {
	LocalQueue    string `json:"localQueue"`
	PriorityClass string `json:"priorityClass,omitempty"`
}

// Volumes and mount paths the worker pods have already: a spec may not
// reuse them.
var (
	reservedVolumes    = []string{"jobwq", "tmp", "items"}
	reservedMountPaths = []string{"/opt/jobwq", "/tmp", "/items"}
)

// checkPods enforces what Kubernetes' validation would refuse in the pod
// options and the schema cannot say field by field: one source per volume,
// mounts of declared volumes outside jobwq's paths, tolerations that make
// sense, whole extended resources whose request equals the limit, and pod
// labels that do not contradict metadata.labels.
func checkPods(v cue.Value, w *WorkQueue) position.Errors {
	var errs position.Errors
	add := func(p, format string, args ...any) {
		errs = append(errs, position.Errorf(posOf(v, p), p, format, args...))
	}
	for _, c := range []struct {
		path string
		o    *PodOptions
	}{
		{"spec.worker", &w.Spec.Worker.PodOptions},
		{"spec.seeder", &w.Spec.Seeder},
		{"spec.broker", &w.Spec.Broker.PodOptions},
	} {
		for i, t := range c.o.Tolerations {
			p := fmt.Sprintf("%s.tolerations[%d]", c.path, i)
			switch {
			case t.Key == "" && t.Operator != corev1.TolerationOpExists:
				add(p+".operator", "must be Exists when key is empty")
			case t.Operator == corev1.TolerationOpExists && t.Value != "":
				add(p+".value", "must be empty when operator is Exists")
			}
			if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
				add(p+".tolerationSeconds", "is only allowed with effect NoExecute")
			}
		}
		for _, k := range slices.Sorted(maps.Keys(c.o.PodLabels)) {
			if m, ok := w.Metadata.Labels[k]; ok && m != c.o.PodLabels[k] {
				errs = append(errs, keyErrorf(v, c.path+".podLabels", k, "is %q in metadata.labels: a pod label may not contradict it", m))
			}
		}
	}
	errs = append(errs, checkExtended(v, "spec.worker.resources", w.Spec.Worker.Resources)...)
	errs = append(errs, checkExtended(v, "spec.broker.resources", w.Spec.Broker.Resources)...)
	errs = append(errs, checkVolumes(v, w.Spec.Worker.Volumes, w.Spec.Worker.VolumeMounts)...)
	return errs
}

// checkExtended: extended resources and hugepages are not overcommitted,
// so Kubernetes wants a limit, a request (if any) equal to it and, for
// extended resources, a whole number.
func checkExtended(v cue.Value, path string, r Resources) position.Errors {
	var errs position.Errors
	names := slices.Sorted(maps.Keys(r.Limits))
	for n := range r.Requests {
		if _, ok := r.Limits[n]; !ok {
			names = append(names, n)
		}
	}
	for _, name := range names {
		if name == "cpu" || name == "memory" || name == "ephemeral-storage" {
			continue
		}
		lim, hasLim := r.Limits[name]
		req, hasReq := r.Requests[name]
		lq, err := resource.ParseQuantity(string(lim))
		switch {
		case !hasLim:
			errs = append(errs, keyErrorf(v, path+".requests", name, "needs a limit: Kubernetes does not overcommit %s, so set its limit (the request defaults to it)", name))
		case err != nil || lq.Sign() <= 0:
			errs = append(errs, keyErrorf(v, path+".limits", name, "must be a positive quantity, found %q", lim))
		case !strings.HasPrefix(name, "hugepages-") && lq.MilliValue()%1000 != 0:
			errs = append(errs, keyErrorf(v, path+".limits", name, "must be a whole number, found %s", lim))
		case hasReq:
			if rq, err := resource.ParseQuantity(string(req)); err != nil || rq.Cmp(lq) != 0 {
				errs = append(errs, keyErrorf(v, path+".requests", name, "must equal the limit %s: Kubernetes does not overcommit %s", lim, name))
			}
		}
	}
	return errs
}

func checkVolumes(v cue.Value, vols []Volume, mounts []VolumeMount) position.Errors {
	var errs position.Errors
	add := func(p, format string, args ...any) {
		errs = append(errs, position.Errorf(posOf(v, p), p, format, args...))
	}
	seen := map[string]int{}
	for i, vol := range vols {
		p := fmt.Sprintf("spec.worker.volumes[%d]", i)
		if slices.Contains(reservedVolumes, vol.Name) {
			add(p+".name", "%q is a volume jobwq adds itself (%s): choose another name", vol.Name, strings.Join(reservedVolumes, ", "))
		}
		if first, dup := seen[vol.Name]; dup {
			add(p+".name", "duplicate volume %q (first at spec.worker.volumes[%d])", vol.Name, first)
		}
		seen[vol.Name] = i
		n := 0
		for _, set := range []bool{vol.ConfigMap != nil, vol.Secret != nil, vol.PersistentVolumeClaim != nil, vol.EmptyDir != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			add(p+".name", "set exactly one of configMap, secret, persistentVolumeClaim and emptyDir")
		}
		if vol.EmptyDir != nil && vol.EmptyDir.SizeLimit != "" {
			if q, err := resource.ParseQuantity(string(vol.EmptyDir.SizeLimit)); err != nil || q.Sign() <= 0 {
				add(p+".emptyDir.sizeLimit", "must be a positive quantity such as 1Gi")
			}
		}
	}
	paths := map[string]int{}
	for i, m := range mounts {
		p := fmt.Sprintf("spec.worker.volumeMounts[%d]", i)
		if _, ok := seen[m.Name]; !ok {
			add(p+".name", "no volume %q in spec.worker.volumes", m.Name)
		}
		clean := path.Clean(m.MountPath)
		for _, r := range reservedMountPaths {
			if clean == r || strings.HasPrefix(clean, r+"/") {
				add(p+".mountPath", "%s is jobwq's own (%s): choose another path", m.MountPath, r)
			}
		}
		if clean == "/" {
			add(p+".mountPath", "must not be /")
		}
		if first, dup := paths[clean]; dup {
			add(p+".mountPath", "duplicate mount path %s (first at spec.worker.volumeMounts[%d])", m.MountPath, first)
		}
		paths[clean] = i
	}
	return errs
}

// keyErrorf is an error at key of the map at path, a key that may hold
// dots and slashes (nvidia.com/gpu), quoted in the path as CUE quotes it.
func keyErrorf(v cue.Value, path, key, format string, args ...any) *position.Error {
	sels := append(cue.ParsePath(path).Selectors(), cue.Str(key))
	pos := cuepos.Of(v.LookupPath(cue.MakePath(sels...)).Pos())
	return position.Errorf(pos, path+"."+pathLabel(key), format, args...)
}

// pathLabel is key as CUE writes it in an error's path: quoted unless it
// is an identifier. Every error about one field then has the same path,
// which is how vet drops the duplicates.
func pathLabel(key string) string {
	return cue.Str(key).String()
}
