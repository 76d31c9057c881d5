package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// node is the suite's one Kubernetes node, started by TestMain.
var node *Node

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// run starts the node, runs the tests, tears the node down and fails the
// suite if the teardown left anything on the machine.
func run(m *testing.M) int {
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "e2e: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	start := time.Now()
	n, err := Start(context.Background(), Options{RepoRoot: root, Logf: logf})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	node = n
	logf("node up in %v", time.Since(start).Round(100*time.Millisecond))
	code := m.Run()

	var pids []int
	for _, pid := range n.PIDs() {
		pids = append(pids, pid)
	}
	if err := n.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: teardown: %v\n", err)
		code = 1
	}
	left, err := n.Leftovers(pids)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: check the teardown: %v\n", err)
		code = 1
	}
	for _, l := range left {
		fmt.Fprintf(os.Stderr, "e2e: left behind: %s\n", l)
		code = 1
	}
	if len(left) == 0 && err == nil {
		logf("teardown left nothing behind (processes, bridge, iptables, nftables tables, mounts, cgroups, sysctls, paths)")
	}
	return code
}

var variants = []string{"deployment", "replicationcontroller", "statefulset"}

// TestFruits is the reference article's run on real pods for every broker
// variant: jobwq build of the 8 fruits with parallelism 2, the broker's
// Secret, kubectl apply -k into a restricted namespace.
func TestFruits(t *testing.T) {
	for _, variant := range variants {
		t.Run(variant, func(t *testing.T) {
			spec := Spec{Name: "job-wq", Queue: "job1", Items: fruits, Parallelism: 2}
			r := Launch(t, spec, variant)

			r.WaitBrokerReady(3 * time.Minute)
			brokerReady := r.since()
			seed := r.Job("seed")
			r.WaitJob(seed, "Complete", 3*time.Minute)
			seeded := r.since()
			work := r.Job("work")
			st := r.WaitJob(work, "Complete", 5*time.Minute)
			done := r.since()
			r.Timeline(fmt.Sprintf("apply → broker ready %v", brokerReady), fmt.Sprintf("seeded %v", seeded), fmt.Sprintf("done %v", done))

			if st.Succeeded != len(fruits) {
				t.Errorf("worker Job succeeded %d pods, want %d", st.Succeeded, len(fruits))
			}
			if st.Failed != 0 {
				t.Errorf("worker Job counted %d failed pods, want none", st.Failed)
			}
			active, live, seen := r.Workers.Max()
			t.Logf("worker pods: %d seen, at most %d active and %d alive at once", seen, active, live)
			if live > spec.Parallelism {
				t.Errorf("%d worker pods were alive at once, parallelism is %d", live, spec.Parallelism)
			}
			if seen != len(fruits) {
				t.Errorf("%d worker pods ran, want one per item (%d)", seen, len(fruits))
			}
			r.CheckEachOnce(r.Processed(work))
			r.CheckDrained()
		})
	}
}
