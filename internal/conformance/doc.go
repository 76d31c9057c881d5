// Package conformance has only tests. They run the jobwq binary as a user
// does (jobwq build SPEC -o DIR, then kubectl apply -k) against a real
// kube-apiserver started by internal/kubetest, in namespaces that enforce
// the restricted Pod Security standard, so every overlay of every example
// is judged by the server users apply it to: refusals, warnings, immutable
// fields, object sizes, and the Job controller's handling of the worker
// Job. Negative controls show that the same harness does refuse what a
// real cluster refuses.
//
// Run with make conformance (after make kube-tools builds the servers).
package conformance
