package cli

import (
	"fmt"
	"io"
	"path"

	"github.com/jobwq/jobwq/internal/workqueue"
)

// safeVariant is the variant jobwq points at: the bundled broker whose
// queue survives a restart or an eviction (deployment and
// replicationcontroller keep it in an emptyDir), or the spec's external
// broker.
func safeVariant(w *workqueue.WorkQueue) string {
	if w.Spec.Broker.External != nil {
		return "external"
	}
	return "statefulset"
}

// printNextSteps tells how to apply a build in dir (as the user would type
// it): the broker's Secret first, which jobwq never writes, then the safe
// variant; or the Indexed Job, which needs neither.
func printNextSteps(out io.Writer, w *workqueue.WorkQueue, dir string) {
	ns := ""
	if w.Metadata.Namespace != "" {
		ns = " -n " + w.Metadata.Namespace
	}
	overlay := func(v string) string { return path.Join(dir, "overlays", v) }
	if w.Spec.Broker.External != nil {
		fmt.Fprintf(out, "  # the external broker's user, which must exist there:\n")
		fmt.Fprintf(out, "  kubectl create secret generic %s%s --from-literal=username=USER --from-literal=password=PASSWORD\n", w.CredentialsSecret(), ns)
	} else {
		fmt.Fprintf(out, "  # the broker's credentials, in a Secret jobwq never writes:\n")
		fmt.Fprintf(out, "  kubectl create secret generic %s%s --from-literal=username=jobwq --from-literal=password=\"$(openssl rand -hex 24)\"\n", w.CredentialsSecret(), ns)
	}
	fmt.Fprintf(out, "  kubectl apply -k %s\n", overlay(safeVariant(w)))
	fmt.Fprintf(out, "\nor, without a broker or a Secret, an Indexed Job over the same items:\n\n")
	fmt.Fprintf(out, "  kubectl apply -k %s\n", overlay("indexed"))
}
