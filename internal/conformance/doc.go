// Package conformance has only tests: real tools judge everything jobwq
// renders. kubectl's kustomize must print what jobwq render prints,
// kube-score must find nothing critical, and jobwq's own policy nothing at
// all (tools_test.go). The rest run the jobwq binary as a user does (jobwq build SPEC -o DIR, then kubectl apply -k) against a real
// kube-apiserver started by internal/kubetest, in namespaces that enforce
// the restricted Pod Security standard, so every overlay of every example
// is judged by the server users apply it to: refusals, warnings, immutable
// fields, object sizes, and the Job controller's handling of the worker
// Job. Negative controls show that the same harness does refuse what a
// real cluster refuses.
//
// Run with make conformance (after make kube-tools builds the servers).
package conformance
