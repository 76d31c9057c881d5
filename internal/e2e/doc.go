// Package e2e runs jobwq on real pods: a single-node Kubernetes v1.34.4
// on this machine, offline, with images built here, and tests that
// jobwq build's output, applied with kubectl apply -k, does what the
// README says for every broker variant and under faults.
//
// Start brings up, as root: etcd, kube-apiserver and
// kube-controller-manager (internal/kubetest), kube-scheduler, containerd
// (Debian's) with runc and the bridge CNI plugin, the kubelet, kube-proxy
// in iptables mode and CoreDNS on the host. The Kubernetes binaries and
// CoreDNS come from tools/kube/install.sh (make kube-tools); a missing one
// is an error saying so, never a skip.
//
// The network obeys this workplace's rule: pods get addresses in
// 198.18.0.0/24 (of the cluster's 198.18.0.0/16) on the bridge jobwqe2e0,
// whose address 198.18.0.1 is the node's; Services get 198.19.0.0/16. The
// bridge plugin masquerades nothing and installs no default route: a pod's
// only routes are its subnet and the Service range. A guard chain in the
// mangle table drops anything forwarded between the bridge and any other
// interface. (kube-proxy's own masquerade rule applies only to Service
// traffic that stays on the bridge.)
//
// Images are written here as OCI archives and imported with ctr, since no
// registry is reachable: a pause image (the static program in ./pause), the
// runner (the static jobwq binary), a worker (busybox-static and a shell
// worker that logs "Processing <item>") and a RabbitMQ broker made with
// mmdebstrap from Debian's rabbitmq-server, cached under
// $JOBWQ_CACHE/images by a digest of its inputs.
//
// Stop deletes every pod, stops every process it started (by PID, through
// kubetest), kills any containerd shim left, unmounts everything under
// the run's directory, removes the kubepods cgroups, every iptables rule
// and chain and nftables table that appeared, the bridge, and the global
// paths the programs created, and writes back every sysctl that changed.
// The suite then compares the machine with the record Start made and
// fails on any difference. A run that dies before Stop (a test timeout)
// leaves its record in $TMPDIR/jobwq-e2e-state.json for the next Start to
// clean up from.
package e2e
