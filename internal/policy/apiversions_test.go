package policy

// The table of removed APIs, held to the k8s.io/api jobwq pins.

import (
	"fmt"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	admissionv1 "k8s.io/api/admission/v1"
	admissionv1beta1 "k8s.io/api/admission/v1beta1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	admissionregistrationv1alpha1 "k8s.io/api/admissionregistration/v1alpha1"
	admissionregistrationv1beta1 "k8s.io/api/admissionregistration/v1beta1"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apidiscoveryv2beta1 "k8s.io/api/apidiscovery/v2beta1"
	apiserverinternalv1alpha1 "k8s.io/api/apiserverinternal/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	appsv1beta1 "k8s.io/api/apps/v1beta1"
	appsv1beta2 "k8s.io/api/apps/v1beta2"
	authenticationv1 "k8s.io/api/authentication/v1"
	authenticationv1alpha1 "k8s.io/api/authentication/v1alpha1"
	authenticationv1beta1 "k8s.io/api/authentication/v1beta1"
	authorizationv1 "k8s.io/api/authorization/v1"
	authorizationv1beta1 "k8s.io/api/authorization/v1beta1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	autoscalingv2beta1 "k8s.io/api/autoscaling/v2beta1"
	autoscalingv2beta2 "k8s.io/api/autoscaling/v2beta2"
	batchv1 "k8s.io/api/batch/v1"
	batchv1beta1 "k8s.io/api/batch/v1beta1"
	certificatesv1 "k8s.io/api/certificates/v1"
	certificatesv1alpha1 "k8s.io/api/certificates/v1alpha1"
	certificatesv1beta1 "k8s.io/api/certificates/v1beta1"
	coordinationv1 "k8s.io/api/coordination/v1"
	coordinationv1alpha2 "k8s.io/api/coordination/v1alpha2"
	coordinationv1beta1 "k8s.io/api/coordination/v1beta1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	discoveryv1beta1 "k8s.io/api/discovery/v1beta1"
	eventsv1 "k8s.io/api/events/v1"
	eventsv1beta1 "k8s.io/api/events/v1beta1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	flowcontrolv1beta1 "k8s.io/api/flowcontrol/v1beta1"
	flowcontrolv1beta2 "k8s.io/api/flowcontrol/v1beta2"
	flowcontrolv1beta3 "k8s.io/api/flowcontrol/v1beta3"
	imagepolicyv1alpha1 "k8s.io/api/imagepolicy/v1alpha1"
	networkingv1 "k8s.io/api/networking/v1"
	networkingv1beta1 "k8s.io/api/networking/v1beta1"
	nodev1 "k8s.io/api/node/v1"
	nodev1alpha1 "k8s.io/api/node/v1alpha1"
	nodev1beta1 "k8s.io/api/node/v1beta1"
	policyv1 "k8s.io/api/policy/v1"
	policyv1beta1 "k8s.io/api/policy/v1beta1"
	rbacv1 "k8s.io/api/rbac/v1"
	rbacv1alpha1 "k8s.io/api/rbac/v1alpha1"
	rbacv1beta1 "k8s.io/api/rbac/v1beta1"
	resourcev1 "k8s.io/api/resource/v1"
	resourcev1alpha3 "k8s.io/api/resource/v1alpha3"
	resourcev1beta1 "k8s.io/api/resource/v1beta1"
	resourcev1beta2 "k8s.io/api/resource/v1beta2"
	schedulingv1 "k8s.io/api/scheduling/v1"
	schedulingv1alpha1 "k8s.io/api/scheduling/v1alpha1"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	storagev1 "k8s.io/api/storage/v1"
	storagev1alpha1 "k8s.io/api/storage/v1alpha1"
	storagev1beta1 "k8s.io/api/storage/v1beta1"
	storagemigrationv1alpha1 "k8s.io/api/storagemigration/v1alpha1"
)

// apiGroups registers every API group version of the pinned k8s.io/api.
var apiGroups = []func(*runtime.Scheme) error{
	admissionv1.AddToScheme,
	admissionv1beta1.AddToScheme,
	admissionregistrationv1.AddToScheme,
	admissionregistrationv1alpha1.AddToScheme,
	admissionregistrationv1beta1.AddToScheme,
	apidiscoveryv2.AddToScheme,
	apidiscoveryv2beta1.AddToScheme,
	apiserverinternalv1alpha1.AddToScheme,
	appsv1.AddToScheme,
	appsv1beta1.AddToScheme,
	appsv1beta2.AddToScheme,
	authenticationv1.AddToScheme,
	authenticationv1alpha1.AddToScheme,
	authenticationv1beta1.AddToScheme,
	authorizationv1.AddToScheme,
	authorizationv1beta1.AddToScheme,
	autoscalingv1.AddToScheme,
	autoscalingv2.AddToScheme,
	autoscalingv2beta1.AddToScheme,
	autoscalingv2beta2.AddToScheme,
	batchv1.AddToScheme,
	batchv1beta1.AddToScheme,
	certificatesv1.AddToScheme,
	certificatesv1alpha1.AddToScheme,
	certificatesv1beta1.AddToScheme,
	coordinationv1.AddToScheme,
	coordinationv1alpha2.AddToScheme,
	coordinationv1beta1.AddToScheme,
	corev1.AddToScheme,
	discoveryv1.AddToScheme,
	discoveryv1beta1.AddToScheme,
	eventsv1.AddToScheme,
	eventsv1beta1.AddToScheme,
	extensionsv1beta1.AddToScheme,
	flowcontrolv1.AddToScheme,
	flowcontrolv1beta1.AddToScheme,
	flowcontrolv1beta2.AddToScheme,
	flowcontrolv1beta3.AddToScheme,
	imagepolicyv1alpha1.AddToScheme,
	networkingv1.AddToScheme,
	networkingv1beta1.AddToScheme,
	nodev1.AddToScheme,
	nodev1alpha1.AddToScheme,
	nodev1beta1.AddToScheme,
	policyv1.AddToScheme,
	policyv1beta1.AddToScheme,
	rbacv1.AddToScheme,
	rbacv1alpha1.AddToScheme,
	rbacv1beta1.AddToScheme,
	resourcev1.AddToScheme,
	resourcev1alpha3.AddToScheme,
	resourcev1beta1.AddToScheme,
	resourcev1beta2.AddToScheme,
	schedulingv1.AddToScheme,
	schedulingv1alpha1.AddToScheme,
	schedulingv1beta1.AddToScheme,
	storagev1.AddToScheme,
	storagev1alpha1.AddToScheme,
	storagev1beta1.AddToScheme,
	storagemigrationv1alpha1.AddToScheme,
}

// servedNever are API versions k8s.io/api v0.34.4 still registers but for
// which Kubernetes 1.34 has no storage at all (k8s.io/kubernetes
// pkg/registry sets none up), so no API server serves them.
var servedNever = []string{"node.k8s.io/v1alpha1", "rbac.authorization.k8s.io/v1alpha1", "scheduling.k8s.io/v1alpha1"}

// lifecycle is what k8s.io/api says of a kind: the release whose API
// server no longer serves it (zero when none is set).
type lifecycle struct {
	removed [2]int
	known   bool // the kind is registered
}

// registered is every kind k8s.io/api registers, by group/version and kind.
func registered(t *testing.T) map[string]lifecycle {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range apiGroups {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	out := map[string]lifecycle{}
	for gvk, typ := range s.AllKnownTypes() {
		if strings.HasSuffix(gvk.Kind, "List") || strings.HasPrefix(typ.PkgPath(), "k8s.io/apimachinery/") {
			continue // lists, and the options every group version registers
		}
		l := lifecycle{known: true}
		if r, ok := reflect.New(typ).Interface().(interface{ APILifecycleRemoved() (int, int) }); ok {
			l.removed[0], l.removed[1] = r.APILifecycleRemoved()
		}
		out[gvk.GroupVersion().String()+" "+gvk.Kind] = l
	}
	return out
}

func (l lifecycle) removedBy134() bool {
	return l.removed[0] == 1 && l.removed[1] <= 34
}

// removedTable reads _removedAPIs from the pack: "group/version kind" to
// the release it names ("" when none) and what to use instead.
func removedTable(t *testing.T) map[string][2]string {
	t.Helper()
	p := compile(t, Options{})
	root, _, err := p.build(cuecontext.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	table := root.LookupPath(cue.MakePath(cue.Hid("_removedAPIs", ":policy")))
	gvs, err := table.Fields()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]string{}
	for gvs.Next() {
		kinds, err := gvs.Value().Fields()
		if err != nil {
			t.Fatal(err)
		}
		for kinds.Next() {
			in, _ := kinds.Value().LookupPath(cue.ParsePath("in")).String()
			use, err := kinds.Value().LookupPath(cue.ParsePath("use")).String()
			if err != nil {
				t.Fatal(err)
			}
			out[gvs.Selector().Unquoted()+" "+kinds.Selector().Unquoted()] = [2]string{in, use}
		}
	}
	return out
}

// TestRemovedAPIsMatchKubernetes: the table names exactly the kinds
// k8s.io/api marks as removed by 1.34, with the release it names, and
// those with no storage in 1.34; whatever it tells users to use instead is
// served; and the rule reports, per kind, exactly what the table lists:
// no current kind of a version that also has removed kinds.
func TestRemovedAPIsMatchKubernetes(t *testing.T) {
	kinds := registered(t)
	table := removedTable(t)
	for gvk, l := range kinds {
		entry, listed := table[gvk]
		gv, _, _ := strings.Cut(gvk, " ")
		switch {
		case l.removedBy134() && !listed:
			t.Errorf("%s: k8s.io/api says it is removed in %d.%d; the table does not list it", gvk, l.removed[0], l.removed[1])
		case l.removedBy134() && entry[0] != fmt.Sprintf("%d.%d", l.removed[0], l.removed[1]):
			t.Errorf("%s: the table says removed in %q, k8s.io/api in %d.%d", gvk, entry[0], l.removed[0], l.removed[1])
		case !l.removedBy134() && listed && !slices.Contains(servedNever, gv):
			t.Errorf("%s: listed as removed, but k8s.io/api v0.34 registers it as served", gvk)
		case slices.Contains(servedNever, gv) && (!listed || entry[0] != ""):
			t.Errorf("%s: has no storage in 1.34: it must be listed, without a release", gvk)
		}
	}
	groups := map[string]bool{}
	for gvk := range kinds {
		groups[strings.Split(gvk, "/")[0]] = true
	}
	for gvk, entry := range table {
		_, kind, _ := strings.Cut(gvk, " ")
		use := strings.Fields(entry[1])[0]
		if !strings.Contains(use, "/") || !groups[strings.Split(use, "/")[0]] {
			continue // a tool or a feature, or a group k8s.io/api does not hold
		}
		if l := kinds[use+" "+kind]; !strings.Contains(entry[1], "became") && (!l.known || l.removedBy134()) {
			t.Errorf("%s: says use %s, which does not serve %s in 1.34", gvk, use, kind)
		}
	}

	p := compile(t, Options{})
	for gvk := range kinds {
		gv, kind, _ := strings.Cut(gvk, " ")
		doc := fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata: {name: x}\n", gv, kind)
		fs, err := p.CheckBytes("k.yaml", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range fs {
			if f.Rule == "api-version-removed" {
				got = append(got, f.Message)
			}
		}
		entry, listed := table[gvk]
		switch {
		case listed && len(got) != 1:
			t.Errorf("%s: removed, but the rule reports %q", gvk, got)
		case listed && !strings.Contains(got[0], "use "+entry[1]):
			t.Errorf("%s: message %q does not say what to use", gvk, got[0])
		case !listed && len(got) != 0:
			t.Errorf("%s: served by 1.34, but the rule reports %q", gvk, got)
		}
	}
}
