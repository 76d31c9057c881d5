package workqueue

import (
	corev1 "k8s.io/api/core/v1"
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
