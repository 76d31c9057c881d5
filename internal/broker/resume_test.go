package broker

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jobwq/jobwq/internal/brokertest"
)

// TestResumeOnPinnedQueue is what a changed spec with spec.queue.name
// pinned does in the cluster (README, "Changing a run"): the first run's
// Jobs are pruned while a worker holds an item, the new seeding Job finds
// the queue sealed with the same items and adds nothing, and the new
// worker Job drains what is left, the interrupted item included, without
// redoing the items already done.
func TestResumeOnPinnedQueue(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := quorum(brokertest.Queue(t))
	list := []string{"apple", "banana", "cherry", "date", "fig"}
	seedItems(t, conn, q, list)

	// The first run: two items done, a third held when its pod is deleted.
	first := t.TempDir()
	for range 2 {
		args := append([]string{"work", "--queue", q.Name, "--"}, recorder(first)...)
		if p := start(t, "", args...); p.wait(t, 30*time.Second) != 0 {
			t.Fatalf("first run's worker failed:\n%s", p.output())
		}
	}
	marker := filepath.Join(t.TempDir(), "started")
	held := start(t, "", "work", "--queue", q.Name, "--", "sh", "-c", "touch "+marker+"; sleep 60")
	eventually(t, 20*time.Second, "the held item's command to start", func() bool { _, err := os.Stat(marker); return err == nil })
	held.kill()
	held.wait(t, 10*time.Second)

	// The changed spec's seeding Job: same queue, same items.
	if res := seedItems(t, conn, q, list); !res.AlreadySealed || res.Published != 0 {
		t.Fatalf("the new run's seeder = %+v, want the queue found sealed and nothing published", res)
	}

	// The new worker Job: three more pods, then any further one finds the
	// run complete.
	second := t.TempDir()
	for range 3 {
		args := append([]string{"work", "--queue", q.Name, "--wait", "20s", "--"}, recorder(second)...)
		if p := start(t, "", args...); p.wait(t, time.Minute) != 0 {
			t.Fatalf("new run's worker failed:\n%s", p.output())
		}
	}
	if p := start(t, "", "work", "--queue", q.Name, "--", "false"); p.wait(t, 30*time.Second) != 0 {
		t.Fatalf("a worker after the last item did not find the run complete:\n%s", p.output())
	}
	done := append(processed(t, first), processed(t, second)...)
	slices.Sort(done)
	if !slices.Equal(done, list) {
		t.Errorf("items processed over both runs = %q, want each of %q once", done, list)
	}
	st, err := Status(context.Background(), conn, q.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Complete() || st.Done != len(list) {
		t.Errorf("status %+v, want complete with %d done", st, len(list))
	}
}
