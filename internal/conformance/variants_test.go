package conformance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/jobwq/jobwq/internal/kubetest"
)

// operatorCRD is the RabbitMQ Cluster Operator's RabbitmqCluster CRD,
// v2.22.3 (rabbitmq/cluster-operator config/crd/bases). The module proxy
// here refuses the operator's Go module, so the CRD is test data beside
// the repository (../shared/reference/crds, which CI has too), not a
// copy in the product.
func operatorCRD() string {
	return filepath.Join(repoRoot, "..", "shared", "reference", "crds", "rabbitmq.com_rabbitmqclusters.yaml")
}

// installCRDs puts the operator's CRD into the API server, so that the
// rabbitmqcluster variant is judged by its schema like any other object.
func installCRDs(s *kubetest.Server) error {
	path := operatorCRD()
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("conformance: the RabbitmqCluster CRD: %w (it lives in ../shared/reference/crds beside the repository)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if r := s.KubectlContext(ctx, "", "apply", "--server-side", "-f", path); r.Err != nil {
		return fmt.Errorf("conformance: install %s: %v: %s", path, r.Err, r.Stderr)
	}
	// kubectl wait fails outright while the CRD has no status yet, so
	// poll for the condition instead.
	for {
		r := s.KubectlContext(ctx, "", "get", "crd/rabbitmqclusters.rabbitmq.com", "-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
		if r.Err == nil && strings.TrimSpace(r.Stdout) == "True" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("conformance: CRD rabbitmqclusters.rabbitmq.com not established within a minute: %v: %s", r.Err, r.Stderr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// object is what these tests read of a built object.
type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec map[string]any `json:"spec"`
}

// objects builds an overlay with kubectl's kustomize and decodes it.
func objects(t *testing.T, dir string) []object {
	t.Helper()
	var out []object
	for _, doc := range strings.Split(kube.MustKubectl(t, "kustomize", dir), "\n---\n") {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

func kinds(objs []object) []string {
	var k []string
	for _, o := range objs {
		k = append(k, o.Kind+"/"+o.Metadata.Name)
	}
	slices.Sort(k)
	return k
}

// brokerKinds are the objects of a broker jobwq runs itself.
var brokerKinds = []string{"Deployment", "ReplicationController", "StatefulSet", "Service", "PodDisruptionBudget"}

// TestRabbitmqClusterVariant: overlays/rabbitmqcluster is a 3-node
// RabbitmqCluster and no broker workload of jobwq's own, accepted by the
// API server with the operator's CRD under restricted Pod Security, and
// its seeder and workers use the operator's Service and Secret.
func TestRabbitmqClusterVariant(t *testing.T) {
	dir := t.TempDir()
	build(t, workQueue(t, dir, "fruits", 2, fruits), dir)
	overlay := filepath.Join(dir, "overlays", "rabbitmqcluster")
	serverAccepts(t, overlay)

	objs := objects(t, overlay)
	var cluster *object
	for i, o := range objs {
		if o.Kind == "PodDisruptionBudget" {
			// The operator's pods', one node at a time.
			sel, _ := o.Spec["selector"].(map[string]any)
			if labels, _ := sel["matchLabels"].(map[string]any); len(labels) != 1 || labels["app.kubernetes.io/name"] != "fruits-broker" {
				t.Errorf("PodDisruptionBudget %s selects %v, want the operator's pods (app.kubernetes.io/name: fruits-broker)", o.Metadata.Name, o.Spec["selector"])
			}
			continue
		}
		if slices.Contains(brokerKinds, o.Kind) {
			t.Errorf("the rabbitmqcluster variant renders a broker object of its own: %s %s", o.Kind, o.Metadata.Name)
		}
		if o.Kind == "RabbitmqCluster" {
			cluster = &objs[i]
		}
	}
	if cluster == nil {
		t.Fatalf("no RabbitmqCluster in %v", kinds(objs))
	}
	if cluster.APIVersion != "rabbitmq.com/v1beta1" || cluster.Metadata.Name != "fruits-broker" || cluster.Spec["replicas"] != float64(3) {
		t.Errorf("RabbitmqCluster = %s %s replicas %v, want rabbitmq.com/v1beta1 fruits-broker replicas 3", cluster.APIVersion, cluster.Metadata.Name, cluster.Spec["replicas"])
	}
	built := kube.MustKubectl(t, "kustomize", overlay)
	for _, want := range []string{
		"--quorum-group-size=3",            // the seeder spreads the queue over the nodes
		"name: fruits-broker-default-user", // the operator's Secret
		"value: fruits-broker\n",           // the operator's client Service
	} {
		if !strings.Contains(built, want) {
			t.Errorf("the rabbitmqcluster variant lacks %q", strings.TrimSpace(want))
		}
	}
}

// TestRabbitmqClusterPodsRestricted: the operator is not here to make the
// StatefulSet, so its pods are judged as the operator would make them,
// as far as Pod Security reads them: a Pod with the override's security
// settings (the operator's own defaults, uid 999 and fsGroup 0, merged in)
// is admitted by a namespace that enforces restricted; without the
// override, the same Pod is refused, which shows the override is what
// makes the difference.
func TestRabbitmqClusterPodsRestricted(t *testing.T) {
	dir := t.TempDir()
	build(t, workQueue(t, dir, "fruits", 2, fruits), dir)
	var override struct {
		Spec struct {
			Override struct {
				StatefulSet struct {
					Spec struct {
						Template struct {
							Spec struct {
								SecurityContext map[string]any `json:"securityContext"`
								Containers      []struct {
									Name            string         `json:"name"`
									SecurityContext map[string]any `json:"securityContext"`
								} `json:"containers"`
								InitContainers []struct {
									Name            string         `json:"name"`
									SecurityContext map[string]any `json:"securityContext"`
								} `json:"initContainers"`
							} `json:"spec"`
						} `json:"template"`
					} `json:"spec"`
				} `json:"statefulSet"`
			} `json:"override"`
		} `json:"spec"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "overlays", "rabbitmqcluster", "rabbitmqcluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &override); err != nil {
		t.Fatal(err)
	}
	tmpl := override.Spec.Override.StatefulSet.Spec.Template.Spec
	if len(tmpl.Containers) != 1 || tmpl.Containers[0].Name != "rabbitmq" || len(tmpl.InitContainers) != 1 || tmpl.InitContainers[0].Name != "setup-container" {
		t.Fatalf("override names containers %+v and init containers %+v, want the operator's rabbitmq and setup-container", tmpl.Containers, tmpl.InitContainers)
	}
	pod := func(podSC, containerSC, initSC map[string]any) string {
		// The operator's pod-level defaults, which the override merges into.
		sc := map[string]any{"runAsUser": 999, "fsGroup": 0}
		for k, v := range podSC {
			sc[k] = v
		}
		p := map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": "fruits-broker-server-0"},
			"spec": map[string]any{
				"securityContext": sc,
				"initContainers":  []any{map[string]any{"name": "setup-container", "image": "rabbitmq:4.1.4-management", "securityContext": initSC}},
				"containers":      []any{map[string]any{"name": "rabbitmq", "image": "rabbitmq:4.1.4-management", "securityContext": containerSC}},
			},
		}
		out, err := yaml.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	ns := kube.Namespace(t)
	r := kube.KubectlStdin(t, pod(tmpl.SecurityContext, tmpl.Containers[0].SecurityContext, tmpl.InitContainers[0].SecurityContext), "apply", "--dry-run=server", "-n", ns, "-f", "-")
	if r.Err != nil || r.Stderr != "" {
		t.Errorf("the operator's pod with jobwq's override is refused or warned about under restricted Pod Security: %v: %s", r.Err, r.Stderr)
	}
	r = kube.KubectlStdin(t, pod(nil, nil, nil), "apply", "--dry-run=server", "-n", ns, "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, `violates PodSecurity "restricted:latest"`) {
		t.Errorf("control: the operator's pod without the override was not refused: %v: %s", r.Err, r.Stderr)
	}
}

// TestExternalVariant: a spec with spec.broker.external builds only the
// external and indexed overlays; external has no broker objects, points
// the pods at the broker, and lets the seeder reach its port at its
// addresses.
func TestExternalVariant(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "workqueue.yaml")
	err := os.WriteFile(spec, []byte(`apiVersion: jobwq.dev/v1alpha1
kind: WorkQueue
metadata:
  name: reports
spec:
  items: [2026-01, 2026-02, 2026-03]
  worker:
    image: registry.example.com/finance/report:v7
    command: [/bin/report]
  broker:
    credentialsSecret: shared-rabbit
    external:
      host: rabbitmq.messaging.svc.cluster.local
      vhost: finance
      tls: true
      cidrs: [10.20.0.0/16]
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	build(t, spec, out)
	got := overlayNames(t, out)
	if want := []string{"external", "indexed"}; !slices.Equal(got, want) {
		t.Fatalf("overlays = %v, want %v", got, want)
	}
	overlay := filepath.Join(out, "overlays", "external")
	serverAccepts(t, overlay)
	objs := objects(t, overlay)
	for _, o := range objs {
		if slices.Contains(brokerKinds, o.Kind) || o.Kind == "RabbitmqCluster" {
			t.Errorf("the external variant renders a broker object: %s %s", o.Kind, o.Metadata.Name)
		}
	}
	built := kube.MustKubectl(t, "kustomize", overlay)
	for _, want := range []string{
		"value: rabbitmq.messaging.svc.cluster.local",
		"value: \"5671\"",
		"value: finance",
		"name: BROKER_TLS",
		"name: shared-rabbit\n",
		"cidr: 10.20.0.0/16",
	} {
		if !strings.Contains(built, want) {
			t.Errorf("the external variant lacks %q", strings.TrimSpace(want))
		}
	}
}

// TestExternalVariantAnyAddress: without cidrs the seeder may reach the
// broker's port at every address, IPv4 and IPv6 alike.
func TestExternalVariantAnyAddress(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "workqueue.yaml")
	err := os.WriteFile(spec, []byte(`apiVersion: jobwq.dev/v1alpha1
kind: WorkQueue
metadata:
  name: reports
spec:
  items: [2026-01]
  worker:
    image: registry.example.com/finance/report:v7
    command: [/bin/report]
  broker:
    external: {host: 10.1.2.3, port: 5673}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	build(t, spec, out)
	overlay := filepath.Join(out, "overlays", "external")
	serverAccepts(t, overlay)
	built := kube.MustKubectl(t, "kustomize", overlay)
	for _, want := range []string{"cidr: 0.0.0.0/0", "cidr: ::/0", "port: 5673", "value: 10.1.2.3", "name: reports-broker\n"} {
		if !strings.Contains(built, want) {
			t.Errorf("the external variant lacks %q", want)
		}
	}
}

func overlayNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "overlays"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
