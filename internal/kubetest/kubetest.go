// Package kubetest runs a real Kubernetes control plane for tests: etcd and
// the pinned kube-apiserver built by tools/kube/install.sh, and optionally
// kube-controller-manager so Jobs create pods. It exists so that what jobwq
// renders is judged by the API server users apply it to (validation,
// defaulting, admission, Pod Security) rather than by a schema copy.
//
// A test binary starts one Server from TestMain and gives each test its own
// namespace, labelled to enforce and warn on the restricted Pod Security
// standard:
//
//	var kube *kubetest.Server
//
//	func TestMain(m *testing.M) {
//		s, err := kubetest.Start(context.Background(), kubetest.Options{})
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		kube = s
//		code := m.Run()
//		s.Stop()
//		os.Exit(code)
//	}
//
// Missing binaries are an error that says to run make kube-tools, never a
// skip: a suite that quietly skips its API server judges nothing.
package kubetest

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Options choose what runs beside etcd and the API server.
type Options struct {
	// ControllerManager also runs kube-controller-manager with the Job and
	// service-account controllers, so a Job's pods are created (and, with
	// no scheduler or kubelet, stay Pending).
	ControllerManager bool

	// The fields below are for a control plane that serves a real node
	// (internal/e2e); their zero values keep the loopback-only server.

	// AdvertiseAddress is the address the API server publishes for the
	// kubernetes Service (default 127.0.0.1). Endpoints may not be
	// loopback addresses, so a node with kube-proxy needs a real one.
	AdvertiseAddress string
	// ServiceCIDR is --service-cluster-ip-range (default 10.0.0.0/24).
	ServiceCIDR string
	// APIServerArgs are appended to kube-apiserver's flags.
	APIServerArgs []string
	// Controllers is the controller manager's --controllers list (default
	// the Job and service-account controllers).
	Controllers []string
	// ControllerManagerArgs are appended to kube-controller-manager's flags.
	ControllerManagerArgs []string
}

// Server is a running control plane on loopback.
type Server struct {
	// URL is the API server's https address.
	URL string
	// Kubeconfig is a kubeconfig file for URL with a cluster-admin token.
	Kubeconfig string

	dir      string
	cacheDir string // kubectl's discovery cache, private to this server
	kubectl  string
	procs    []*process // in start order; stopped in reverse
	nsSeq    atomic.Int64
}

// startTimeout bounds the wait for /readyz. A warm start takes about two
// seconds; the margin is for a loaded 2-core CI machine.
const startTimeout = 90 * time.Second

// Start runs etcd and kube-apiserver (and kube-controller-manager when
// asked) on free loopback ports and returns once the API server is ready.
// Call Stop when done, also after a failed test.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bins, err := findBinaries()
	if err != nil {
		return nil, err
	}
	// A port picked free can be taken before the server binds it; that
	// race is rare, so one retry with fresh ports is enough.
	for attempt := 1; ; attempt++ {
		s, err := start(ctx, bins, opts)
		if err == nil || attempt == 2 || !strings.Contains(err.Error(), "address already in use") {
			return s, err
		}
	}
}

func start(ctx context.Context, bins binaries, opts Options) (_ *Server, err error) {
	dir, err := os.MkdirTemp("", "jobwq-kubetest-")
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	s := &Server{dir: dir, kubectl: bins.kubectl, cacheDir: filepath.Join(dir, "kubectl-cache")}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()

	ports, err := freePorts(3)
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	s.URL = fmt.Sprintf("https://127.0.0.1:%d", ports[2])

	token, err := randomToken()
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	files, err := writeFiles(dir, s.URL, token)
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	s.Kubeconfig = files.kubeconfig

	etcdData, err := etcdDataDir(dir)
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	etcd, err := startProcess(dir, "etcd", bins.etcd,
		"--name=kubetest",
		"--data-dir="+etcdData,
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubetest="+peerURL,
		"--logger=zap",
		"--log-outputs=stderr",
	)
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, etcd)

	advertise := cmp.Or(opts.AdvertiseAddress, "127.0.0.1")
	serviceCIDR := cmp.Or(opts.ServiceCIDR, "10.0.0.0/24")
	apiserverArgs := append([]string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=" + advertise,
		fmt.Sprintf("--secure-port=%d", ports[2]),
		"--cert-dir=" + files.certDir,
		"--token-auth-file=" + files.tokens,
		"--authorization-mode=AlwaysAllow",
		// As on kubeadm and managed clusters, so that a privileged pod is
		// refused by Pod Security, the check under test, not by validation.
		"--allow-privileged=true",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + files.saPublic,
		"--service-account-signing-key-file=" + files.saPrivate,
		"--service-cluster-ip-range=" + serviceCIDR,
	}, opts.APIServerArgs...)
	apiserver, err := startProcess(dir, "kube-apiserver", bins.apiserver, apiserverArgs...)
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, apiserver)

	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := s.waitReady(ctx, token, files.certDir); err != nil {
		return nil, err
	}

	if opts.ControllerManager {
		controllers := opts.Controllers
		if len(controllers) == 0 {
			controllers = []string{"job-controller", "serviceaccount-controller"}
		}
		kcmArgs := append([]string{
			"--kubeconfig=" + files.kubeconfig,
			"--controllers=" + strings.Join(controllers, ","),
			"--leader-elect=false",
			"--secure-port=0",
		}, opts.ControllerManagerArgs...)
		kcm, err := startProcess(dir, "kube-controller-manager", bins.controllerManager, kcmArgs...)
		if err != nil {
			return nil, err
		}
		s.procs = append(s.procs, kcm)
	}
	return s, nil
}

// etcdDataDir puts etcd's data in memory when the machine has /dev/shm:
// the data is thrown away, and fsync on a disk is what makes applying
// 100,000 items slow.
func etcdDataDir(dir string) (string, error) {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "jobwq-etcd-"); err == nil {
			// The link lets Stop remove it along with everything else.
			if err := os.Symlink(d, filepath.Join(dir, "etcd-data")); err != nil {
				os.RemoveAll(d)
				return "", err
			}
			return d, nil
		}
	}
	d := filepath.Join(dir, "etcd-data")
	return d, os.Mkdir(d, 0o700)
}

// waitReady polls /readyz until it answers ok, a process exits, or ctx
// ends. A process that exits is reported with the end of its log, which
// is where the reason is.
func (s *Server) waitReady(ctx context.Context, token, certDir string) error {
	client := &http.Client{Timeout: 5 * time.Second}
	var last error
	for {
		for _, p := range s.procs {
			if p.exited() {
				return fmt.Errorf("kubetest: %s exited before the API server was ready: %v\n%s", p.name, p.waitErr(), p.logTail(30))
			}
		}
		if client.Transport == nil {
			// The server writes its self-signed certificate before it
			// listens; trust exactly that.
			if pem, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt")); err == nil {
				pool := x509.NewCertPool()
				if pool.AppendCertsFromPEM(pem) {
					client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
				}
			}
		}
		if client.Transport != nil {
			last = s.probe(ctx, client, token)
			if last == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			apiserver := s.procs[len(s.procs)-1]
			return fmt.Errorf("kubetest: kube-apiserver not ready at %s/readyz: %w (last: %v)\n%s", s.URL, ctx.Err(), last, apiserver.logTail(30))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *Server) probe(ctx context.Context, client *http.Client, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %s", resp.Status)
	}
	return nil
}

// Stop ends every process (its whole process group, so nothing a server
// spawned survives), then removes the temporary directory. It is safe to
// call more than once.
func (s *Server) Stop() error {
	var errs []error
	for i := len(s.procs) - 1; i >= 0; i-- {
		if err := s.procs[i].stop(); err != nil {
			errs = append(errs, err)
		}
	}
	s.procs = nil
	if s.dir != "" {
		if link, err := os.Readlink(filepath.Join(s.dir, "etcd-data")); err == nil {
			errs = append(errs, os.RemoveAll(link))
		}
		errs = append(errs, os.RemoveAll(s.dir))
		s.dir = ""
	}
	return errors.Join(errs...)
}
