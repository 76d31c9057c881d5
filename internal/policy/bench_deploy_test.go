package policy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"cuelang.org/go/cue/format"
	"time"

	"github.com/jobwq/jobwq/internal/kubetest"
)

// deployments is n Deployments as a platform's repository holds them:
// names, labels, images, tags, env values, resources and replicas vary,
// and every 67th shares the pod spec of the first, so that 2,000 of them
// have about 1,970 distinct pod specs. A third run as root with no
// resources, so both tools have findings to report.
func deployments(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		v := i
		if i%67 == 0 {
			v = 0
		}
		fmt.Fprintf(&b, `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-%[1]d
  namespace: team-%[3]d
  labels: {app: svc-%[1]d, team: team-%[3]d}
spec:
  replicas: %[4]d
  selector:
    matchLabels: {app: svc-%[1]d}
  template:
    metadata:
      labels: {app: svc-%[1]d, team: team-%[3]d}
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: %[5]d
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: app
        image: registry.example.com/team-%[3]d/app-%[2]d:1.%[2]d.0
        ports:
        - containerPort: %[6]d
        env:
        - name: SERVICE
          value: svc-%[2]d
        - name: UPSTREAM_URL
          value: http://upstream-%[2]d.team-%[3]d.svc:8080
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db-%[2]d, key: password}}
`, i, v, v%20, 1+i%5, 10000+v, 8000+v%100)
		if v%3 == 0 {
			continue
		}
		fmt.Fprintf(&b, `        resources:
          requests: {cpu: %[1]dm, memory: %[2]dMi}
          limits: {cpu: %[3]dm, memory: %[4]dMi}
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
`, 50+v%500, 64+v%256, 500+v%1000, 256+v%512)
	}
	return b.Bytes()
}

// The yardstick: jobwq policy and kube-score score, each a process
// of its own, on the same file of 2,000 varied Deployments, in the same
// run. Each reports its CPU time (user and system) and its peak memory per
// run as cpu-s/op and maxrss-MB:
//
//	go test ./internal/policy -run '^$' -bench 'Deployments2000' -benchtime 5x
//
// jobwq's side builds the jobwq binary first (cached by go build).
func BenchmarkPolicyDeployments2000(b *testing.B) {
	benchmarkProcess(b, jobwqBinary(b), "policy", deploymentsFile(b))
}

// jobwqBinary builds the jobwq binary for benchmarks of whole runs.
func jobwqBinary(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "jobwq")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/jobwq")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkPolicyDeployments2000UserRule is the same with one user rule
// outside the subset jobwq evaluates itself (testdata/slow-user-rule.cue):
// CUE evaluates that rule alone, and the goal is at most 1.5 times the
// built-in pack's CPU.
func BenchmarkPolicyDeployments2000UserRule(b *testing.B) {
	path := deploymentsFile(b)
	rule, err := filepath.Abs("testdata/slow-user-rule.cue")
	if err != nil {
		b.Fatal(err)
	}
	benchmarkProcess(b, jobwqBinary(b), "policy", "--policy", rule, path)
}

func BenchmarkKubeScoreDeployments2000(b *testing.B) {
	benchmarkProcess(b, kubetest.KubeScore(b), "score", deploymentsFile(b))
}

var deploymentsOnce = sync.OnceValue(func() []byte { return deployments(2000) })

func deploymentsFile(b *testing.B) string {
	path := filepath.Join(b.TempDir(), "deployments.yaml")
	if err := os.WriteFile(path, deploymentsOnce(), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// benchmarkProcess runs bin args... once per iteration and reports its CPU
// time and peak resident memory. Both tools exit 1 on findings; only an
// empty output is wrong.
func benchmarkProcess(b *testing.B, bin string, args ...string) {
	var cpu time.Duration
	var maxRSS int64
	for b.Loop() {
		cmd := exec.Command(bin, args...)
		// Counted, not kept: 100 MB of Jobs make a report of gigabytes.
		var out counter
		cmd.Stdout = &out
		_ = cmd.Run()
		if out == 0 {
			b.Fatalf("%s printed nothing", filepath.Base(bin))
		}
		cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			maxRSS = max(maxRSS, ru.Maxrss) // KiB on Linux
		}
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(maxRSS)/1024, "maxrss-MB")
}

// counter counts what is written to it.
type counter int64

func (c *counter) Write(p []byte) (int, error) {
	*c += counter(len(p))
	return len(p), nil
}

// The generated file is what the benchmark says: 2,000 Deployments, about
// 1,970 distinct pod specs, and findings for both tools to report.
func TestDeploymentsFile(t *testing.T) {
	p := compile(t, Options{})
	rs, err := p.Check("d.yaml", deployments(2000))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2000 {
		t.Fatalf("%d objects, want 2000", len(rs))
	}
	pods := map[string]bool{}
	for _, o := range objectsOfStream(t, deployments(2000)) {
		b, err := format.Node(lookup(o.expr, []any{"spec", "template", "spec"}))
		if err != nil {
			t.Fatal(err)
		}
		pods[string(b)] = true
	}
	if n := len(pods); n < 1960 || n > 1980 {
		t.Errorf("%d distinct pod specs, want about 1,970", n)
	}
	if len(Findings(rs)) == 0 {
		t.Error("no findings")
	}
}

func objectsOfStream(t *testing.T, data []byte) []object {
	t.Helper()
	var out []object
	d := newDocReader(bytes.NewReader(data), "d.yaml")
	for {
		doc, err := d.read()
		if err != nil {
			break
		}
		exprs, derr := decode("d.yaml", doc, false)
		if derr != nil {
			t.Fatal(derr)
		}
		for _, e := range exprs {
			out = append(out, objectsOf(e)...)
		}
	}
	return out
}

// BenchmarkCheckDeployments2000 is the same file checked in-process, for
// profiling (-cpuprofile): a fresh pack per run, as in one jobwq policy.
func BenchmarkCheckDeployments2000(b *testing.B) {
	data := deploymentsOnce()
	for b.Loop() {
		p, err := Compile(Options{})
		if err != nil {
			b.Fatal(err)
		}
		rs, err := p.Check("deployments.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) != 2000 {
			b.Fatalf("checked %d objects, want 2000", len(rs))
		}
	}
}
