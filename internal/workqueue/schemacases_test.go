package workqueue

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A schemaCase is a spec, what vet says of it, and what the editors' JSON
// Schema must say of it.
type schemaCase struct {
	name string
	spec string
	// valid: vet accepts the spec.
	valid bool
	// vetOnly: vet refuses it for a reason JSON Schema cannot state.
	vetOnly bool
	// msg is, where the schema states the rule in vet's words, the
	// message an editor shows, which vet's finding holds.
	msg string
}

// vet loads the case's spec (beside an items.txt) as jobwq vet does, and
// checks its verdict and, for msg, its words.
func (tc schemaCase) vet(t *testing.T) error {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "items.txt"), []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "wq.yaml")
	if err := os.WriteFile(path, []byte(tc.spec), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if (err == nil) != tc.valid {
		t.Fatalf("vet: valid = %v (%v), the table says %v", err == nil, err, tc.valid)
	}
	if tc.msg != "" && (err == nil || !strings.Contains(err.Error(), tc.msg)) {
		t.Errorf("vet says %v, not %q", err, tc.msg)
	}
	return err
}

// schemaCases are the table TestJSONSchemaSaysWhatVetSays and
// TestEditorSaysWhatVetSays hold vet, a validator and an editor to.
func schemaCases(t *testing.T) []schemaCase {
	edit := func(old, new string) string {
		if !strings.Contains(schemaBase, old) {
			t.Fatalf("base spec lacks %q", old)
		}
		return strings.Replace(schemaBase, old, new, 1)
	}
	worker := func(line string) string { return edit("    command: [run]\n", "    command: [run]\n    "+line+"\n") }
	image := func(ref string) string { return edit("registry.example.com/w:v1", ref) }
	for _, want := range []string{"external:", "priorityClass: batch-low", "nvidia.com/gpu: 1", "kueue:", "volumes:"} {
		if !strings.Contains(goodPods, want) {
			t.Fatalf("goodPods lacks %q", want)
		}
	}
	const (
		msgName     = "must be 1 to 40 lowercase letters, digits or '-', starting with a letter and ending with a letter or digit"
		msgReserved = "keys under app.kubernetes.io/ and jobwq.dev/ are jobwq's own"
		msgDuration = "expected a duration such as 90s, 10m or 1h30m"
		msgQuantity = "expected a Kubernetes quantity such as 500m or 1Gi"
		msgResource = "expected cpu, memory, ephemeral-storage, hugepages-<size> or an extended resource outside kubernetes.io, such as nvidia.com/gpu"
		msgLabelKey = "must be a label key: an optional DNS subdomain and '/', then 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
	)
	return []schemaCase{
		{name: "base", spec: schemaBase, valid: true},
		{name: "every default written", valid: true, spec: worker("parallelism: 1\n    itemsPerPod: 1\n    timeout: 1h\n    wait: 10m\n    backoffLimitPerIndex: 3") +
			"  queue: {type: quorum, deliveryLimit: 3}\n  broker: {image: \"rabbitmq:4.1.4-management\", storage: {size: 1Gi}}\n  runner: {image: \"ghcr.io/jobwq/jobwq:v0.1.0\"}\n"},
		{name: "itemsFile", spec: edit("items: [apple, banana]", "itemsFile: items.txt"), valid: true},
		{name: "parallelism 0", spec: worker("parallelism: 0")},
		{name: "parallelism 10001", spec: worker("parallelism: 10001")},
		{name: "parallelism 2.5", spec: worker("parallelism: 2.5")},
		{name: "parallelism max", spec: worker("parallelism: 10000"), valid: true},
		{name: "deliveryLimit 0", spec: schemaBase + "  queue: {deliveryLimit: 0}\n"},
		{name: "queue type stream", spec: schemaBase + "  queue: {type: stream}\n"},
		{name: "queue classic", spec: schemaBase + "  queue: {type: classic}\n", valid: true},
		{name: "queue name amq.", spec: schemaBase + "  queue: {name: amq.x}\n", msg: `must be 1 to 250 bytes and must not start with "amq." (reserved by the broker)`},
		{name: "backoffLimit -1", spec: worker("backoffLimit: -1")},
		{name: "maxFailedIndexes too many", spec: worker("maxFailedIndexes: 100001")},
		{name: "both item sources", spec: edit("items: [apple, banana]", "items: [apple]\n  itemsFile: items.txt"), msg: msgBothItemSources},
		{name: "no item source", spec: edit("  items: [apple, banana]\n", ""), msg: msgNoItemSource},
		{name: "empty items", spec: edit("items: [apple, banana]", "items: []"), msg: msgNoItems},
		{name: "item with a line break", spec: edit("items: [apple, banana]", `items: ["a\nb"]`)},
		{name: "bad name", spec: edit("name: job-wq", "name: Job_WQ"), msg: msgName},
		{name: "name too long", spec: edit("name: job-wq", "name: "+strings.Repeat("a", 41)), msg: msgName},
		{name: "name of 40", spec: edit("name: job-wq", "name: "+strings.Repeat("a", 40)), valid: true},
		{name: "unknown field", spec: edit("command:", "comand:")},
		{name: "field at the wrong level", spec: schemaBase + "  parallelism: 2\n"},

		// Images: each rule names the part of the reference it is about.
		{name: "untagged image", spec: image("registry.example.com/w"), msg: "must be pinned by a tag or a digest, such as worker:v2 (an untagged image is not allowed)"},
		{name: "latest image", spec: image("registry.example.com/w:latest"), msg: "the tag latest is not allowed: pin a version, such as worker:v2, or a digest"},
		{name: "upper-case repository", spec: image("registry.example.com/Team/worker:v1"), msg: "the repository must be lower case, as team/worker in registry.example.com/team/worker:v2"},
		{name: "upper-case registry", spec: image("Registry.Example.com/team/worker:v1"), valid: true},
		{name: "short digest", spec: image("python@sha256:abc"), msg: "the digest (after '@') must be sha256: and 64 lowercase hexadecimal digits"},
		{name: "digest", spec: image("python@sha256:" + strings.Repeat("0a", 32)), valid: true},
		{name: "tag and digest", spec: image("registry.example.com:5000/w:v1@sha256:" + strings.Repeat("0a", 32)), valid: true},
		{name: "bad tag", spec: image("worker:-v1"), msg: "the tag (after ':') must be 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"},
		{name: "space in the repository", spec: image("my worker:v1"), msg: "must be an image reference such as registry.example.com/team/worker:v2: path components of letters and digits, separated by '/', and within a component by '.', '_' or '-'"},

		{name: "timeout 90", spec: worker("timeout: 90"), msg: msgDuration},
		{name: "timeout 5 minutes", spec: worker("timeout: 5 minutes"), msg: msgDuration},
		{name: "timeout 90s", spec: worker("timeout: 90s"), valid: true},
		{name: "timeout 0s", spec: worker("timeout: 0s"), msg: msgAtLeastSecond},
		{name: "wait 0s", spec: worker("wait: 0s"), msg: msgAtLeastSecond},
		{name: "wait 0h0m", spec: worker("wait: 0h0m"), msg: msgAtLeastSecond},
		{name: "wait 500ms", spec: worker("wait: 500ms"), vetOnly: true},
		{name: "activeDeadline below timeout", spec: worker("timeout: 2h\n    activeDeadline: 1h"), vetOnly: true},
		{name: "ttlAfterFinished 0s", spec: worker("ttlAfterFinished: 0s"), valid: true},
		{name: "empty command", spec: edit("command: [run]", "command: []")},
		{name: "imagePullPolicy bad", spec: schemaBase + "  imagePullPolicy: Sometimes\n"},
		{name: "imagePullPolicy Never", spec: schemaBase + "  imagePullPolicy: Never\n", valid: true},
		{name: "env name 1bad", spec: worker("env: [{name: 1bad, value: x}]"), msg: "must be an environment variable name: letters, digits and '_', not starting with a digit"},
		{name: "env name reserved", spec: worker("env: [{name: BROKER_URL, value: x}]"), msg: "starts with BROKER_ or JOBWQ_, which jobwq sets: choose another name"},
		{name: "env value and valueFrom", spec: worker("env: [{name: A, value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]"), msg: msgEnvOneOf},
		{name: "env neither value nor valueFrom", spec: worker("env: [{name: A}]"), msg: msgEnvOneOf},
		{name: "env duplicate", spec: worker("env: [{name: A, value: x}, {name: A, value: z}]"), vetOnly: true},
		{name: "request above limit", spec: worker("resources: {requests: {cpu: 2}}"), vetOnly: true},
		{name: "bad quantity", spec: worker("resources: {requests: {cpu: lots}}"), msg: msgQuantity},
		{name: "unknown resource", spec: worker("resources: {requests: {gpu: 1}}"), msg: msgResource},
		{name: "reserved label", spec: edit("  name: job-wq\n", "  name: job-wq\n  labels: {app.kubernetes.io/name: x}\n"), msg: msgReserved},
		{name: "reserved annotation", spec: edit("  name: job-wq\n", "  name: job-wq\n  annotations: {jobwq.dev/run: x}\n"), msg: msgReserved},
		{name: "label key with a space", spec: edit("  name: job-wq\n", "  name: job-wq\n  labels: {a b: x}\n"), msg: msgLabelKey},
		{name: "wrong apiVersion", spec: edit("jobwq.dev/v1alpha1", "jobwq.dev/v1")},
		{name: "wrong kind", spec: edit("kind: WorkQueue", "kind: Job")},

		// Pod options, extended resources, Kueue and an external broker.
		{name: "pod options, gpu, kueue, external broker", spec: goodPods, valid: true},
		{name: "pod options with the broker's defaults written", valid: true, spec: strings.Replace(goodPods, "      tls: true\n", "      tls: true\n    replicas: 3\n    storage: {size: 1Gi}\n", 1)},
		{name: "broker pod options", valid: true, spec: schemaBase + "  broker:\n    replicas: 5\n    nodeSelector: {pool: system}\n    priorityClassName: infra\n    podAnnotations: {a.example.com/b: c}\n"},
		{name: "hugepages", spec: worker("resources: {limits: {hugepages-2Mi: 1Gi}}"), valid: true},
		{name: "extended resource on the broker", spec: schemaBase + "  broker: {resources: {limits: {example.com/fast-disk: 2}}}\n", valid: true},
		{name: "resource in the kubernetes.io domain", spec: worker("resources: {limits: {example.kubernetes.io/thing: 1}}"), msg: msgResource},
		{name: "resource without a domain", spec: worker("resources: {limits: {gpu: 1}}"), msg: msgResource},
		{name: "hugepages without a unit", spec: worker("resources: {limits: {hugepages-2: 1}}"), msg: msgResource},
		{name: "gpu quantity lots", spec: worker("resources: {limits: {nvidia.com/gpu: lots}}"), msg: msgQuantity},
		{name: "half a gpu", spec: worker("resources: {limits: {nvidia.com/gpu: 0.5}}"), msg: msgWhole},
		{name: "half a gpu in thousandths", spec: worker("resources: {limits: {nvidia.com/gpu: 500m}}"), msg: msgWhole},
		{name: "two gpus in thousandths", spec: worker("resources: {limits: {nvidia.com/gpu: 2000m}}"), valid: true},
		{name: "gpu of 1.0", spec: worker("resources: {limits: {nvidia.com/gpu: 1.0}}"), valid: true},
		{name: "no gpu", spec: worker("resources: {limits: {nvidia.com/gpu: 0}}"), msg: msgPositive},
		{name: "gpu written 1.5k", spec: worker("resources: {limits: {example.com/slots: 1.5k}}"), valid: true},
		{name: "gpu request below its limit", spec: worker("resources: {requests: {nvidia.com/gpu: 1}, limits: {nvidia.com/gpu: 2}}"), vetOnly: true},
		{name: "gpu request without a limit", spec: worker("resources: {requests: {nvidia.com/gpu: 1}}"), vetOnly: true},
		{name: "security context", spec: worker("securityContext: {runAsUser: 0}")},
		{name: "seeder image", spec: schemaBase + "  seeder: {image: registry.example.com/s:v1}\n"},
		{name: "toleration effect misspelt", spec: worker("tolerations: [{key: k, operator: Exists, effect: NoSchedul}]")},
		{name: "toleration with an empty key and Equal", spec: worker("tolerations: [{key: \"\", operator: Equal, value: v}]"), msg: msgEmptyKey},
		{name: "toleration with no key and no operator", spec: worker("tolerations: [{effect: NoSchedule}]"), msg: msgEmptyKey},
		{name: "toleration with an empty key and Exists", spec: worker("tolerations: [{key: \"\", operator: Exists}]"), valid: true},
		{name: "toleration key with a space", spec: worker("tolerations: [{key: a b, operator: Exists}]"), msg: msgLabelKey},
		{name: "toleration value with Exists", spec: worker("tolerations: [{key: k, operator: Exists, value: v}]"), msg: msgExistsValue},
		{name: "tolerationSeconds without NoExecute", spec: worker("tolerations: [{key: k, operator: Exists, effect: NoSchedule, tolerationSeconds: 5}]"), msg: msgTolSeconds},
		{name: "nodeSelector value with a space", spec: worker("nodeSelector: {pool: a b}"), msg: "must be a label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"},
		{name: "nodeSelector key with a space", spec: worker("nodeSelector: {a b: c}"), msg: msgLabelKey},
		{name: "affinity weight 101", spec: worker("affinity: {nodeAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 101, preference: {matchExpressions: [{key: a, operator: Exists}]}}]}}")},
		{name: "spread without whenUnsatisfiable", spec: worker("topologySpreadConstraints: [{maxSkew: 1, topologyKey: topology.kubernetes.io/zone}]")},
		{name: "priorityClassName upper case", spec: worker("priorityClassName: High")},
		{name: "reserved pod label", spec: worker("podLabels: {jobwq.dev/run: x}"), msg: msgReserved},
		{name: "pod label contradicting metadata", spec: edit("  name: job-wq\n", "  name: job-wq\n  labels: {team: a}\n") + "    podLabels: {team: b}\n", vetOnly: true},
		{name: "hostPath volume", spec: worker("volumes: [{name: host, hostPath: {path: /}}]")},
		{name: "volume with two sources", spec: worker("volumes: [{name: v, emptyDir: {}, secret: {secretName: s}}]"), msg: msgVolumeOneOf},
		{name: "volume with no source", spec: worker("volumes: [{name: v}]"), msg: msgVolumeOneOf},
		{name: "volume named tmp", spec: worker("volumes: [{name: tmp, emptyDir: {}}]"), msg: msgReservedVolume},
		{name: "two volumes of one name", spec: worker("volumes: [{name: v, emptyDir: {}}, {name: v, emptyDir: {}}]"), vetOnly: true},
		{name: "relative mount path", spec: worker("volumes: [{name: v, emptyDir: {}}]\n    volumeMounts: [{name: v, mountPath: data}]"), msg: "must be an absolute path"},
		{name: "mount at /tmp", spec: worker("volumes: [{name: v, emptyDir: {}}]\n    volumeMounts: [{name: v, mountPath: /tmp/x}]"), msg: msgReservedMount},
		{name: "mount at //opt/./jobwq", spec: worker("volumes: [{name: v, emptyDir: {}}]\n    volumeMounts: [{name: v, mountPath: //opt/./jobwq}]"), msg: msgReservedMount},
		{name: "mount at /tmp/../data", spec: worker("volumes: [{name: v, emptyDir: {}}]\n    volumeMounts: [{name: v, mountPath: /tmp/../data}]"), valid: true},
		{name: "mount at /tmpfs", spec: worker("volumes: [{name: v, emptyDir: {}}]\n    volumeMounts: [{name: v, mountPath: /tmpfs}]"), valid: true},
		{name: "mount of no volume", spec: worker("volumeMounts: [{name: v, mountPath: /data}]"), vetOnly: true},
		{name: "file mode 0o1000", spec: worker("volumes: [{name: v, secret: {secretName: s, defaultMode: 512}}]")},
		{name: "broker replicas 2", spec: schemaBase + "  broker: {replicas: 2}\n"},
		{name: "kueue without localQueue", spec: schemaBase + "  kueue: {priorityClass: high}\n"},
		{name: "kueue localQueue upper case", spec: schemaBase + "  kueue: {localQueue: Vision}\n", msg: "must be a DNS-1123 label: 1 to 63 lowercase letters, digits or '-', starting and ending with a letter or digit"},
		{name: "external broker without host", spec: schemaBase + "  broker: {external: {vhost: v}}\n"},
		{name: "external broker port 0", spec: schemaBase + "  broker: {external: {host: rabbit.example.com, port: 0}}\n"},
		{name: "external broker cidr without a prefix", spec: schemaBase + "  broker: {external: {host: rabbit.example.com, cidrs: [10.0.0.1]}}\n", msg: "must be a CIDR such as 10.0.0.0/8 or fd00::/8"},
		{name: "external broker host with a space", spec: schemaBase + "  broker: {external: {host: rabbit example}}\n", msg: "must be a DNS name or an IP address"},
	}
}
