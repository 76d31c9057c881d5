package workqueue

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/jobwq/jobwq/internal/position"
)

// podSpec sets every pod option the issue asks for on the worker.
const podSpec = `apiVersion: jobwq.dev/v1alpha1
kind: WorkQueue
metadata:
  name: gpu
  labels: {team: vision}
spec:
  items: [a, b]
  worker:
    image: registry.example.com/w:v1
    command: [run]
    nodeSelector: {cloud.google.com/gke-accelerator: nvidia-l4}
    tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
      - {key: spot, operator: Equal, value: "true", effect: NoExecute, tolerationSeconds: 30}
    affinity:
      podAntiAffinity:
        preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 50
            podAffinityTerm:
              topologyKey: kubernetes.io/hostname
              labelSelector:
                matchExpressions: [{key: app.kubernetes.io/component, operator: In, values: [worker]}]
    topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway, matchLabelKeys: [batch.kubernetes.io/job-name]}
    priorityClassName: batch-low
    imagePullSecrets: [{name: registry-creds}]
    serviceAccountName: vision-worker
    podLabels: {team: vision, cost-center: "42"}
    podAnnotations: {sidecar.istio.io/inject: "false"}
    resources:
      limits: {nvidia.com/gpu: 1, memory: 8Gi}
    volumes:
      - {name: model, persistentVolumeClaim: {claimName: models, readOnly: true}}
      - {name: config, configMap: {name: vision-config, items: [{key: c.yaml, path: c.yaml}]}}
      - {name: creds, secret: {secretName: vision-creds, defaultMode: 0o400}}
      - {name: scratch, emptyDir: {sizeLimit: 10Gi}}
    volumeMounts:
      - {name: model, mountPath: /models, readOnly: true}
      - {name: scratch, mountPath: /scratch}
  seeder:
    nodeSelector: {pool: system}
  broker:
    tolerations: [{operator: Exists}]
  kueue:
    localQueue: vision
`

func TestPodOptions(t *testing.T) {
	writeFiles(t, map[string]string{"wq.yaml": podSpec})
	w, err := Load("wq.yaml")
	if err != nil {
		t.Fatal(err)
	}
	wk := w.Spec.Worker
	if got := wk.Tolerations[1]; got.Key != "spot" || got.TolerationSeconds == nil || *got.TolerationSeconds != 30 {
		t.Errorf("toleration = %+v", got)
	}
	if got := wk.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey; got != "kubernetes.io/hostname" {
		t.Errorf("affinity topologyKey = %q", got)
	}
	if got := wk.TopologySpreadConstraints[0].WhenUnsatisfiable; got != corev1.ScheduleAnyway {
		t.Errorf("whenUnsatisfiable = %q", got)
	}
	if wk.ImagePullSecrets[0].Name != "registry-creds" || wk.ServiceAccountName != "vision-worker" || wk.PriorityClassName != "batch-low" {
		t.Errorf("pod options = %+v", wk.PodOptions)
	}
	if got := wk.Resources.Limits["nvidia.com/gpu"]; got != "1" {
		t.Errorf("gpu limit = %q", got)
	}
	if got := wk.Resources.Requests["cpu"]; got != "100m" {
		t.Errorf("default cpu request = %q, want 100m next to a gpu", got)
	}
	if len(wk.Volumes) != 4 || *wk.Volumes[2].Secret.DefaultMode != 0o400 || wk.VolumeMounts[0].MountPath != "/models" {
		t.Errorf("volumes = %+v, mounts = %+v", wk.Volumes, wk.VolumeMounts)
	}
	if w.Spec.Seeder.NodeSelector["pool"] != "system" || w.Spec.Broker.Tolerations[0].Operator != "Exists" {
		t.Errorf("seeder %+v, broker %+v", w.Spec.Seeder, w.Spec.Broker.PodOptions)
	}
	if w.Spec.Kueue == nil || w.Spec.Kueue.LocalQueue != "vision" {
		t.Errorf("kueue = %+v", w.Spec.Kueue)
	}
}

func TestPodOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		add  string // appended under spec.worker
		want []string
	}{
		{
			name: "gpu request without a limit",
			add:  "    resources: {requests: {nvidia.com/gpu: 1}}\n",
			want: []string{`wq.yaml:10:44: spec.worker.resources.requests."nvidia.com/gpu": needs a limit: Kubernetes does not overcommit nvidia.com/gpu, so set its limit (the request defaults to it)`},
		},
		{
			name: "gpu request below its limit",
			add:  "    resources: {requests: {nvidia.com/gpu: 1}, limits: {nvidia.com/gpu: 2}}\n",
			want: []string{`wq.yaml:10:44: spec.worker.resources.requests."nvidia.com/gpu": must equal the limit 2: Kubernetes does not overcommit nvidia.com/gpu`},
		},
		{
			name: "half a gpu",
			add:  "    resources: {limits: {nvidia.com/gpu: 500m}}\n",
			want: []string{`wq.yaml:10:42: spec.worker.resources.limits."nvidia.com/gpu": must be a whole number, found 500m`},
		},
		{
			name: "resource in the kubernetes.io domain",
			add:  "    resources: {limits: {example.kubernetes.io/thing: 1}}\n",
			want: []string{`wq.yaml:10:26: spec.worker.resources.limits."example.kubernetes.io/thing": unknown resource "example.kubernetes.io/thing": expected cpu, memory, ephemeral-storage, hugepages-<size> or an extended resource outside kubernetes.io, such as nvidia.com/gpu`},
		},
		{
			name: "misspelt resource",
			add:  "    resources: {requests: {cpus: 1}}\n",
			want: []string{`wq.yaml:10:28: spec.worker.resources.requests.cpus: unknown resource "cpus" (did you mean "cpu"?): expected cpu, memory, ephemeral-storage, hugepages-<size> or an extended resource outside kubernetes.io, such as nvidia.com/gpu`},
		},
		{
			name: "toleration value with Exists",
			add:  "    tolerations: [{key: k, operator: Exists, value: v}]\n",
			want: []string{"wq.yaml:10:53: spec.worker.tolerations[0].value: must be empty when operator is Exists"},
		},
		{
			name: "tolerationSeconds without NoExecute",
			add:  "    tolerations: [{key: k, operator: Exists, effect: NoSchedule, tolerationSeconds: 5}]\n",
			want: []string{"wq.yaml:10:85: spec.worker.tolerations[0].tolerationSeconds: is only allowed with effect NoExecute"},
		},
		{
			name: "bad taint effect",
			add:  "    tolerations: [{key: k, effect: NoSchedul}]\n",
			want: []string{`wq.yaml:10:36: spec.worker.tolerations[0].effect: expected one of "NoExecute", "NoSchedule", "PreferNoSchedule", found "NoSchedul"`},
		},
		{
			name: "volume with two sources",
			add:  "    volumes: [{name: x, emptyDir: {}, configMap: {name: c}}]\n",
			want: []string{"wq.yaml:10:22: spec.worker.volumes[0].name: set exactly one of configMap, secret, persistentVolumeClaim and emptyDir"},
		},
		{
			name: "hostPath volume",
			add:  "    volumes: [{name: x, hostPath: {path: /}}]\n",
			want: []string{`wq.yaml:10:25: spec.worker.volumes[0].hostPath: unknown field "hostPath": expected one of configMap, emptyDir, name, persistentVolumeClaim, secret`},
		},
		{
			name: "jobwq's volume name",
			add:  "    volumes: [{name: tmp, emptyDir: {}}]\n",
			want: []string{`wq.yaml:10:22: spec.worker.volumes[0].name: "tmp" is a volume jobwq adds itself (jobwq, tmp, items): choose another name`},
		},
		{
			name: "mount of an unknown volume over jobwq's path",
			add:  "    volumeMounts: [{name: x, mountPath: /opt/jobwq/bin}]\n",
			want: []string{
				`wq.yaml:10:27: spec.worker.volumeMounts[0].name: no volume "x" in spec.worker.volumes`,
				"wq.yaml:10:41: spec.worker.volumeMounts[0].mountPath: /opt/jobwq/bin is inside a path jobwq owns (/opt/jobwq, /tmp, /items): choose another path",
			},
		},
		{
			name: "privileged field",
			add:  "    securityContext: {privileged: true}\n",
			want: []string{`wq.yaml:10:5: spec.worker.securityContext: unknown field "securityContext": expected one of activeDeadline, affinity, backoffLimit, backoffLimitPerIndex, command, env, image, imagePullSecrets, itemsPerPod, maxFailedIndexes, nodeSelector, parallelism, podAnnotations, podLabels, priorityClassName, resources, serviceAccountName, timeout, tolerations, topologySpreadConstraints, ttlAfterFinished, volumeMounts, volumes, wait`},
		},
		{
			name: "pod label contradicting metadata",
			add:  "    podLabels: {team: other}\n",
			want: []string{`wq.yaml:10:23: spec.worker.podLabels.team: is "vision" in metadata.labels: a pod label may not contradict it`},
		},
	}
	const base = "apiVersion: jobwq.dev/v1alpha1\nkind: WorkQueue\nmetadata:\n  name: job-wq\n  labels: {team: vision}\nspec:\n  items: [a]\n  worker:\n    image: registry.example.com/w:v1\n"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeFiles(t, map[string]string{"wq.yaml": base + tt.add + "    command: [run]\n"})
			_, err := Load("wq.yaml")
			var es position.Errors
			if !errors.As(err, &es) {
				t.Fatalf("Load: %v, want position.Errors", err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
