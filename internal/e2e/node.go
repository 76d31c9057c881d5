package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jobwq/jobwq/internal/kubetest"
)

// The network rule of this workplace: pods and Services live only in
// these ranges, on a bridge inside the machine, with no masquerading and
// no route out.
const (
	bridgeName  = "jobwqe2e0"
	nodeIP      = "198.18.0.1" // the bridge's address: node IP, API server advertise address, DNS
	clusterCIDR = "198.18.0.0/16"
	podSubnet   = "198.18.0.0/24" // the only node's pods
	serviceCIDR = "198.19.0.0/16"
	nodeName    = "jobwq-e2e"
	guardChain  = "JOBWQ-E2E-GUARD"
)

// Node is a single-node Kubernetes: the kubetest control plane (etcd,
// kube-apiserver, kube-controller-manager) plus kube-scheduler,
// containerd, the kubelet, kube-proxy and CoreDNS, with jobwq's images
// imported. Its kubectl methods come from kubetest.Server.
type Node struct {
	*kubetest.Server
	Images Images

	dir       string
	sock      string // containerd's socket
	bins      nodeBinaries
	before    *hostState
	lock      *os.File
	logf      func(string, ...any)
	stopped   bool
	setupDone []string // what Start did to the host, for Stop to undo
}

type nodeBinaries struct {
	kubelet, scheduler, proxy, coredns string // from tools/kube/install.sh
	containerd, ctr, runc              string
}

// Options tune Start.
type Options struct {
	// RepoRoot is the jobwq checkout the runner image is built from.
	RepoRoot string
	// Logf reports progress (the suite passes a logger to stderr).
	Logf func(format string, args ...any)
}

// startTimeout bounds Start from nothing to a Ready node, image builds
// included when the broker image is cached.
const readyTimeout = 3 * time.Minute

// Start brings up the node. It needs root, the binaries tools/kube/install.sh
// builds and Debian's containerd, runc, containernetworking-plugins,
// iptables, mmdebstrap and busybox-static; it fails saying what to run
// when one is missing. Call Stop afterwards, also after an error.
func Start(ctx context.Context, opts Options) (n *Node, err error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("e2e: a real node needs root (network bridge, iptables, mounts, cgroups): run make e2e as root, as CI does")
	}
	bins, err := findNodeBinaries()
	if err != nil {
		return nil, err
	}
	n = &Node{bins: bins, logf: logf}

	// One node per machine: the bridge, port 53 on it and the kubelet's
	// port are fixed. A second run waits for the first.
	n.lock, err = os.OpenFile(filepath.Join(os.TempDir(), "jobwq-e2e.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("e2e: %w", err)
	}
	if err := syscall.Flock(int(n.lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		logf("another e2e node runs on this machine; waiting for it to stop")
		if err := syscall.Flock(int(n.lock.Fd()), syscall.LOCK_EX); err != nil {
			n.lock.Close()
			return nil, fmt.Errorf("e2e: lock: %w", err)
		}
	}
	defer func() {
		if err != nil {
			if stopErr := n.Stop(); stopErr != nil {
				err = errors.Join(err, fmt.Errorf("and the teardown after it: %w", stopErr))
			}
		}
	}()
	if err := recoverCrashedRun(logf); err != nil {
		return n, err
	}
	if n.before, err = snapshotHost(); err != nil {
		return n, fmt.Errorf("e2e: record the host's state: %w", err)
	}
	if err := n.before.save(); err != nil {
		return n, fmt.Errorf("e2e: %w", err)
	}

	start := time.Now()
	if n.dir, err = os.MkdirTemp("", "jobwq-e2e-"); err != nil {
		return n, fmt.Errorf("e2e: %w", err)
	}
	archives, err := buildImages(ctx, n.dir, opts.RepoRoot, kubetest.CacheDir(), logf)
	if err != nil {
		return n, err
	}
	n.Images = imageRefs
	logf("images built in %v", time.Since(start).Round(100*time.Millisecond))

	start = time.Now()
	if err := setupNetwork(); err != nil {
		return n, err
	}
	auth, err := writeKubeletAuth(n.dir)
	if err != nil {
		return n, fmt.Errorf("e2e: %w", err)
	}
	n.Server, err = kubetest.Start(ctx, kubetest.Options{
		ControllerManager: true,
		AdvertiseAddress:  nodeIP,
		ServiceCIDR:       serviceCIDR,
		APIServerArgs: []string{
			"--kubelet-preferred-address-types=InternalIP",
			"--kubelet-client-certificate=" + auth.clientCert,
			"--kubelet-client-key=" + auth.clientKey,
		},
		// Every default controller: nodes, endpoints, the garbage
		// collector, volume binding for the statefulset's claim.
		Controllers: []string{"*"},
		ControllerManagerArgs: []string{
			"--allocate-node-cidrs=true",
			"--cluster-cidr=" + clusterCIDR,
			"--node-cidr-mask-size=24",
			"--service-cluster-ip-range=" + serviceCIDR,
			"--configure-cloud-routes=false",
		},
	})
	if err != nil {
		return n, err
	}
	if err := n.startContainerd(ctx, archives); err != nil {
		return n, err
	}
	if err := n.startNode(auth); err != nil {
		return n, err
	}
	if err := n.waitReady(ctx); err != nil {
		return n, err
	}
	logf("node %s Ready in %v", nodeName, time.Since(start).Round(100*time.Millisecond))
	return n, nil
}

// JobwqBinary is the full jobwq, built from the same tree as the runner
// the images hold, for the tests' jobwq build.
func (n *Node) JobwqBinary() string { return filepath.Join(n.dir, "jobwq-cli") }

func findNodeBinaries() (nodeBinaries, error) {
	var b nodeBinaries
	dir, err := kubetest.BinDir()
	if err != nil {
		return b, err
	}
	b.kubelet = filepath.Join(dir, "kubelet")
	b.scheduler = filepath.Join(dir, "kube-scheduler")
	b.proxy = filepath.Join(dir, "kube-proxy")
	b.coredns = filepath.Join(dir, "coredns")
	var errs []error
	for _, p := range []string{b.kubelet, b.scheduler, b.proxy, b.coredns} {
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, fmt.Errorf("e2e: %s is missing: run make kube-tools (tools/kube/install.sh) to build it", p))
		}
	}
	for _, p := range []struct {
		dst  *string
		name string
		pkg  string
	}{
		{&b.containerd, "containerd", "containerd"},
		{&b.ctr, "ctr", "containerd"},
		{&b.runc, "runc", "runc"},
		{new(string), "containerd-shim-runc-v2", "containerd"},
		{new(string), "iptables", "iptables"},
		{new(string), "nft", "nftables"},
		{new(string), "ip", "iproute2"},
		{new(string), "mmdebstrap", "mmdebstrap"},
	} {
		path, err := exec.LookPath(p.name)
		if err != nil {
			errs = append(errs, fmt.Errorf("e2e: %s not found: install Debian's %s (.ci/run does)", p.name, p.pkg))
		}
		*p.dst = path
	}
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, plugin)); err != nil {
			errs = append(errs, fmt.Errorf("e2e: CNI plugin %s/%s not found: install Debian's containernetworking-plugins (.ci/run does)", cniBinDir, plugin))
		}
	}
	if _, err := busyboxStatic(); err != nil {
		errs = append(errs, fmt.Errorf("e2e: %w", err))
	}
	return b, errors.Join(errs...)
}

// cniBinDir is where Debian's containernetworking-plugins puts them.
const cniBinDir = "/usr/lib/cni"

// recoverCrashedRun undoes what a run that never reached its teardown
// left: its processes died with the test binary (Pdeathsig), but the
// bridge, rules, mounts, cgroups and sysctls stay until someone cleans.
func recoverCrashedRun(logf func(string, ...any)) error {
	prev, err := loadState()
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	logf("a previous e2e run did not tear down; cleaning up after it")
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "jobwq-e2e-*"))
	var errs []error
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			killShims(filepath.Join(d, "containerd.sock"))
			errs = append(errs, unmountUnder(d), os.RemoveAll(d))
		}
	}
	errs = append(errs, prev.undo(logf))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("e2e: clean up after a previous run: %w", err)
	}
	return nil
}

// undo puts the host back as s recorded it, as far as the run changed it.
func (s *hostState) undo(logf func(string, ...any)) error {
	errs := []error{s.removeCgroups(), s.removeNewRules(), deleteBridge()}
	restored, err := s.restoreSysctls()
	errs = append(errs, err)
	if len(restored) > 0 {
		logf("sysctls restored: %s", strings.Join(restored, ", "))
	}
	errs = append(errs, s.removeNewPaths())
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return os.Remove(statePath())
}

// setupNetwork makes the bridge with the node's address on it, IPv4 only,
// and a guard that drops anything forwarded between the bridge and any
// other interface. The guard is in the mangle table's FORWARD chain,
// which is evaluated before filter's, where kube-proxy inserts its own
// ACCEPT rules at the top.
func setupNetwork() error {
	cmds := [][]string{
		{"ip", "link", "add", bridgeName, "type", "bridge"},
		{"ip", "addr", "add", nodeIP + "/24", "dev", bridgeName},
		{"ip", "link", "set", bridgeName, "up"},
		{"iptables", "-w", "-t", "mangle", "-N", guardChain},
		{"iptables", "-w", "-t", "mangle", "-A", guardChain, "-i", bridgeName, "!", "-o", bridgeName, "-j", "DROP"},
		{"iptables", "-w", "-t", "mangle", "-A", guardChain, "!", "-i", bridgeName, "-o", bridgeName, "-j", "DROP"},
		{"iptables", "-w", "-t", "mangle", "-I", "FORWARD", "1", "-j", guardChain},
		{"ip6tables", "-w", "-t", "mangle", "-N", guardChain},
		{"ip6tables", "-w", "-t", "mangle", "-A", guardChain, "-i", bridgeName, "-j", "DROP"},
		{"ip6tables", "-w", "-t", "mangle", "-A", guardChain, "-o", bridgeName, "-j", "DROP"},
		{"ip6tables", "-w", "-t", "mangle", "-I", "FORWARD", "1", "-j", guardChain},
	}
	for _, c := range cmds {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("e2e: %s: %w: %s", strings.Join(c, " "), err, out)
		}
	}
	// No IPv6 on the bridge: the pods' network is IPv4 in 198.18.0.0/16.
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+bridgeName+"/disable_ipv6", []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("e2e: disable IPv6 on %s: %w", bridgeName, err)
	}
	return nil
}

func deleteBridge() error {
	if _, err := os.Stat("/sys/class/net/" + bridgeName); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := exec.Command("ip", "link", "del", bridgeName).CombinedOutput(); err != nil {
		return fmt.Errorf("ip link del %s: %w: %s", bridgeName, err, out)
	}
	return nil
}

func (n *Node) startContainerd(ctx context.Context, archives []string) error {
	cdir := filepath.Join(n.dir, "containerd")
	n.sock = filepath.Join(n.dir, "containerd.sock")
	for _, d := range []string{cdir, filepath.Join(n.dir, "cni", "net.d")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("e2e: %w", err)
		}
	}
	config := fmt.Sprintf(containerdConfig, cdir, n.sock, imageRefs.Pause, cniBinDir, filepath.Join(n.dir, "cni", "net.d"))
	if err := writeConfig(filepath.Join(cdir, "config.toml"), config); err != nil {
		return err
	}
	// CNI's configuration first: containerd reports the network ready
	// only once it has one, and the kubelet waits for that.
	if err := writeConfig(filepath.Join(n.dir, "cni", "net.d", "10-jobwq-e2e.conflist"), fmt.Sprintf(cniConfig, bridgeName, filepath.Join(n.dir, "cni", "ipam"), podSubnet, nodeIP, serviceCIDR)); err != nil {
		return err
	}
	if err := n.StartProcess("containerd", n.bins.containerd, "--config", filepath.Join(cdir, "config.toml")); err != nil {
		return err
	}
	if err := waitFor(ctx, 30*time.Second, func() error {
		if err := n.Exited(); err != nil {
			return permanent(err)
		}
		return exec.CommandContext(ctx, n.bins.ctr, "--address", n.sock, "version").Run()
	}); err != nil {
		return fmt.Errorf("e2e: containerd did not start: %w\n%s", err, n.LogTail("containerd", 30))
	}
	start := time.Now()
	for _, a := range archives {
		cmd := exec.CommandContext(ctx, n.bins.ctr, "--address", n.sock, "-n", "k8s.io", "images", "import", "--no-unpack=false", a)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("e2e: ctr images import %s: %w\n%s", a, err, out)
		}
	}
	n.logf("images imported into containerd in %v", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// containerdConfig keeps every path of containerd's under the run's
// directory (root, state, the runc root, network namespaces) so teardown
// finds every mount. restrict_oom_score_adj is the fix for the one
// blocker: root here lacks CAP_SYS_RESOURCE, so runc may not lower
// oom_score_adj, and every sandbox failed without it.
const containerdConfig = `version = 2
root = "%[1]s/root"
state = "%[1]s/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "%[2]s"

[plugins."io.containerd.internal.v1.opt"]
  path = "%[1]s/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "%[3]s"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "%[4]s"
    conf_dir = "%[5]s"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "%[1]s/runc"
`

// cniConfig: a bridge with no masquerading and no default route; the
// pods' only route besides their own subnet is to the Service range.
const cniConfig = `{
  "cniVersion": "1.0.0",
  "name": "jobwq-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "%[1]s",
      "isGateway": true,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "%[2]s",
        "ranges": [[{"subnet": "%[3]s", "gateway": "%[4]s"}]],
        "routes": [{"dst": "%[5]s"}]
      }
    }
  ]
}
`

func (n *Node) startNode(auth kubeletAuth) error {
	kdir := filepath.Join(n.dir, "kubelet")
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		return fmt.Errorf("e2e: %w", err)
	}
	kubeletConfig := fmt.Sprintf(kubeletConfigTmpl, nodeIP, auth.caFile, n.sock, filepath.Join(n.dir, "pod-logs"), filepath.Join(n.dir, "volume-plugins"))
	if err := writeConfig(filepath.Join(n.dir, "kubelet.yaml"), kubeletConfig); err != nil {
		return err
	}
	if err := n.StartProcess("kubelet", n.bins.kubelet,
		"--config="+filepath.Join(n.dir, "kubelet.yaml"),
		"--kubeconfig="+n.Kubeconfig,
		"--root-dir="+kdir,
		"--hostname-override="+nodeName,
		"--node-ip="+nodeIP,
		"--v=1",
	); err != nil {
		return err
	}
	if err := n.StartProcess("kube-scheduler", n.bins.scheduler,
		"--kubeconfig="+n.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
	); err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return fmt.Errorf("e2e: %w", err)
	}
	proxyConfig := fmt.Sprintf(kubeProxyConfigTmpl, n.Kubeconfig, nodeName, nodeIP, ports[0], ports[1], clusterCIDR)
	if err := writeConfig(filepath.Join(n.dir, "kube-proxy.yaml"), proxyConfig); err != nil {
		return err
	}
	if err := n.StartProcess("kube-proxy", n.bins.proxy, "--config="+filepath.Join(n.dir, "kube-proxy.yaml")); err != nil {
		return err
	}
	if err := writeConfig(filepath.Join(n.dir, "Corefile"), fmt.Sprintf(corefile, nodeIP, n.Kubeconfig)); err != nil {
		return err
	}
	return n.StartProcess("coredns", n.bins.coredns, "-conf", filepath.Join(n.dir, "Corefile"))
}

// kubeletConfigTmpl: cgroup v1 with the cgroupfs driver (no systemd here),
// the kubelet's API on the bridge address only and open only to the API
// server's client certificate, DNS from CoreDNS on the node's address,
// and no host resolv.conf (nothing outside is resolvable anyway). Image
// garbage collection is off: the images exist nowhere else.
const kubeletConfigTmpl = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: %[2]s
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://%[3]s
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
clusterDNS:
- %[1]s
resolvConf: ""
podLogsDir: %[4]s
volumePluginDir: %[5]s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%%
  imagefs.available: 1%%
  nodefs.inodesFree: 1%%
serializeImagePulls: false
maxPods: 50
`

// kubeProxyConfigTmpl: iptables mode; node ports only on the bridge
// address, never on localhost; conntrack settings zeroed so kube-proxy
// leaves those sysctls alone.
const kubeProxyConfigTmpl = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %[1]s
hostnameOverride: %[2]s
bindAddress: %[3]s
healthzBindAddress: 127.0.0.1:%[4]d
metricsBindAddress: 127.0.0.1:%[5]d
mode: iptables
clusterCIDR: %[6]s
nodePortAddresses:
- %[3]s/32
iptables:
  localhostNodePorts: false
  masqueradeAll: false
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`

// corefile: cluster names only, answered from the API; nothing is
// forwarded anywhere.
const corefile = `.:53 {
    bind %[1]s
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %[2]s kubetest
        pods insecure
    }
    cache 5
}
`

func writeConfig(name, content string) error {
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		return fmt.Errorf("e2e: write %s: %w", name, err)
	}
	return nil
}

// waitReady waits for the node to be Ready with no taint left (the node
// lifecycle controller removes not-ready once the kubelet reports Ready).
func (n *Node) waitReady(ctx context.Context) error {
	var last string
	err := waitFor(ctx, readyTimeout, func() error {
		if err := n.Exited(); err != nil {
			return permanent(err)
		}
		r := n.KubectlContext(ctx, "", "get", "node", nodeName, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} taints={.spec.taints}`)
		last = strings.TrimSpace(r.Stdout + r.Stderr)
		if r.Err == nil && last == "True taints=" {
			return nil
		}
		return fmt.Errorf("node %s: %s", nodeName, last)
	})
	if err != nil {
		return fmt.Errorf("e2e: node not ready: %w\n%s\n%s", err, n.LogTail("kubelet", 30), n.LogTail("containerd", 15))
	}
	return nil
}

// Stop tears everything down and puts the host back as Start found it:
// the pods first (so the kubelet and CNI release their sandboxes and
// network namespaces), then the node's processes, kube-proxy's rules,
// containerd and any shim it left, the control plane, then mounts,
// cgroups, iptables rules and chains, the bridge, sysctls and global
// paths. It returns every problem; what it could not undo is named.
func (n *Node) Stop() error {
	if n.stopped {
		return nil
	}
	n.stopped = true
	start := time.Now()
	var errs []error
	if n.Server != nil {
		if err := n.drain(); err != nil {
			errs = append(errs, err)
		}
		for _, name := range []string{"kube-controller-manager", "kube-scheduler", "coredns", "kubelet", "kube-proxy"} {
			if err := n.StopProcess(name); err != nil {
				errs = append(errs, err)
			}
		}
		// kube-proxy's own cleanup of its iptables (and any nftables
		// or IPVS) rules; the generic removal below catches the rest.
		if out, err := exec.Command(n.bins.proxy, "--cleanup").CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("kube-proxy --cleanup: %w: %s", err, tail(string(out), 10)))
		}
		if err := n.StopProcess("containerd"); err != nil {
			errs = append(errs, err)
		}
		if err := n.Server.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.sock != "" {
		killShims(n.sock)
	}
	if n.dir != "" {
		errs = append(errs, unmountUnder(n.dir))
	}
	if n.before != nil {
		errs = append(errs, n.before.undo(n.logf))
	}
	if n.dir != "" {
		if err := os.RemoveAll(n.dir); err != nil {
			errs = append(errs, err)
		}
	}
	if n.lock != nil {
		n.lock.Close()
	}
	n.logf("teardown in %v", time.Since(start).Round(100*time.Millisecond))
	return errors.Join(errs...)
}

// drain deletes every pod with the controllers stopped (so nothing makes
// new ones) and waits for containerd to have no task left: the kubelet
// has then stopped every sandbox, which tears down its network through
// CNI.
func (n *Node) drain() error {
	for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
		if err := n.StopProcess(name); err != nil {
			return err
		}
	}
	n.KubectlContext(context.Background(), "", "delete", "pods", "--all", "--all-namespaces", "--force", "--grace-period=0", "--wait=false")
	if n.sock == "" {
		return nil
	}
	var left string
	err := waitFor(context.Background(), 90*time.Second, func() error {
		out, err := exec.Command(n.bins.ctr, "--address", n.sock, "-n", "k8s.io", "tasks", "ls", "-q").Output()
		if err != nil {
			return permanent(fmt.Errorf("ctr tasks ls: %w", err))
		}
		if left = strings.TrimSpace(string(out)); left != "" {
			return errors.New("tasks left: " + strings.ReplaceAll(left, "\n", " "))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("e2e: drain the node: %w\n%s", err, n.LogTail("kubelet", 20))
	}
	return nil
}

// killShims kills the containerd shims serving the containerd at sock,
// found by their command line, and whatever they still run: containerd's
// shims outlive it by design, so stopping containerd does not end them.
func killShims(sock string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") || !slices.Contains(args, sock) {
			continue
		}
		var pid int
		fmt.Sscan(filepath.Base(filepath.Dir(p)), &pid)
		if pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// unmountUnder detaches every mount under dir, deepest first: overlay
// roots, sandbox /dev/shm, network namespaces, the kubelet's volumes.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		p := unescapeMount(f[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("umount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &c); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Leftovers compares the host with what Start recorded: after Stop, the
// list must be empty. Mounts under the run's directory and processes
// started by the run are checked too.
func (n *Node) Leftovers(pids []int) ([]string, error) {
	if n.before == nil {
		return nil, errors.New("e2e: the node never recorded the host's state")
	}
	now, err := snapshotHost()
	if err != nil {
		return nil, err
	}
	left := n.before.diff(now)
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			left = append(left, fmt.Sprintf("process %d still exists", pid))
		}
	}
	if n.dir != "" {
		if _, err := os.Stat(n.dir); !errors.Is(err, os.ErrNotExist) {
			left = append(left, n.dir+" still exists")
		}
		b, _ := os.ReadFile("/proc/self/mountinfo")
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, n.dir) {
				left = append(left, "mount: "+line)
			}
		}
		if n.sock != "" {
			procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
			for _, p := range procs {
				if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), n.dir) {
					left = append(left, fmt.Sprintf("process %s: %s", filepath.Base(filepath.Dir(p)), strings.ReplaceAll(string(b), "\x00", " ")))
				}
			}
		}
	}
	if _, err := os.Stat(statePath()); !errors.Is(err, os.ErrNotExist) {
		left = append(left, statePath()+" still exists")
	}
	return left, nil
}

// freePorts asks the kernel for n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// permanentError ends a waitFor at once.
type permanentError struct{ error }

func permanent(err error) error { return permanentError{err} }

// waitFor calls f every quarter second until it returns nil, returns a
// permanent error, or timeout passes; the error then is f's last.
func waitFor(ctx context.Context, timeout time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return nil
		}
		var p permanentError
		if errors.As(err, &p) {
			return p.error
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w after %v: %w", ctx.Err(), timeout, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
