package broker

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jobwq/jobwq/internal/brokertest"
)

// recorder is a worker command that writes each item it gets into its own
// file under dir, so a test can count what was processed.
func recorder(dir string) []string {
	return []string{"sh", "-c", `f=$(mktemp "$0/item.XXXXXX") && cat > "$f" && echo "Processing $(cat "$f")"`, dir}
}

func processed(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "item.*"))
	if err != nil {
		t.Fatal(err)
	}
	var items []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, string(b))
	}
	slices.Sort(items)
	return items
}

// The article's run: 8 items, parallelism 2, the workers started before the
// seeder. Every item is processed exactly once and the queue ends empty.
// Items with spaces and non-ASCII text survive the trip.
func TestArticleRun(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := brokertest.Queue(t)
	items := []string{"apple", "banana", "cherry", "date", "fig", "grape", "lemon", "melon", "りんご", "two words "}
	dir := t.TempDir()
	itemsFile := filepath.Join(t.TempDir(), "items.txt")
	if err := os.WriteFile(itemsFile, []byte(strings.Join(items, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Two worker slots, each running one `jobwq work` after another until
	// all items are done, as the Job controller would.
	var mu sync.Mutex
	succeeded := 0
	var wg sync.WaitGroup
	firsts := make(chan *proc, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first := true; ; first = false {
				mu.Lock()
				if succeeded >= len(items) {
					mu.Unlock()
					return
				}
				mu.Unlock()
				args := append([]string{"work", "--queue", q, "--wait", "20s", "--"}, recorder(dir)...)
				p := start(t, "", args...)
				if first {
					firsts <- p
				}
				code := p.wait(t, time.Minute)
				mu.Lock()
				if code == 0 {
					succeeded++
				} else if code == int(NoItem) && succeeded >= len(items)-1 {
					mu.Unlock()
					return
				} else {
					t.Errorf("worker exited %d:\n%s", code, p.output())
					mu.Unlock()
					return
				}
				mu.Unlock()
			}
		}()
	}
	for range 2 {
		p := <-firsts
		eventually(t, 30*time.Second, "a worker waiting for the seal", func() bool {
			return strings.Contains(p.output(), "waiting for "+q+" to be seeded")
		})
	}
	seeder := start(t, "", "seed", "--queue", q, "--items", itemsFile)
	if code := seeder.wait(t, time.Minute); code != 0 {
		t.Fatalf("seed exited %d:\n%s", code, seeder.output())
	}
	wg.Wait()

	want := slices.Clone(items)
	slices.Sort(want)
	if got := processed(t, dir); !slices.Equal(got, want) {
		t.Fatalf("processed %q, want each of %q exactly once", got, want)
	}
	// The broker drops a consumer when it handles its connection's close,
	// which may come just after the process has exited.
	var ready, consumers int
	eventually(t, 10*time.Second, "the queue drained with no consumers", func() bool {
		ready, consumers = brokertest.Depth(t, conn, q)
		return ready == 0 && consumers == 0
	})
}

// A worker killed with SIGKILL while its command runs: the broker returns
// the item and the next worker processes it.
func TestWorkerKilledItemRedelivered(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := quorum(brokertest.Queue(t))
	seedItems(t, conn, q, []string{"only"})
	marker := filepath.Join(t.TempDir(), "started")
	p := start(t, "", "work", "--queue", q.Name, "--wait", "10s", "--", "sh", "-c", "touch "+marker+"; sleep 60")
	eventually(t, 20*time.Second, "the command to start", func() bool { _, err := os.Stat(marker); return err == nil })
	p.kill()
	p.wait(t, 10*time.Second)

	dir := t.TempDir()
	args := append([]string{"work", "--queue", q.Name, "--wait", "20s", "--"}, recorder(dir)...)
	p2 := start(t, "", args...)
	if code := p2.wait(t, time.Minute); code != 0 {
		t.Fatalf("second worker exited %d:\n%s", code, p2.output())
	}
	if got := processed(t, dir); !slices.Equal(got, []string{"only"}) {
		t.Fatalf("processed %q", got)
	}
	if !strings.Contains(p2.output(), "(delivery 2)") {
		t.Errorf("second worker did not see a redelivery:\n%s", p2.output())
	}
}

// A poison item fails every time: after its last allowed delivery it is in
// the dead-letter queue, and the next worker finds no item and says which
// one is dead (exit 3, which fails the Job through its podFailurePolicy).
func TestPoisonItemDeadLettered(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := Queue{Name: brokertest.Queue(t), Type: "quorum", DeliveryLimit: 2}
	seedItems(t, conn, q, []string{"poison"})
	attempts := 0
	for ; attempts < 10; attempts++ {
		p := start(t, "", "work", "--queue", q.Name, "--delivery-limit", "2", "--wait", "10s", "--", "sh", "-c", "cat >/dev/null; echo boom >&2; exit 7")
		code := p.wait(t, time.Minute)
		if code == int(NoItem) {
			if !strings.Contains(p.output(), `were dead-lettered into `+q.Name+`.dead after failing every allowed delivery: "poison"`) {
				t.Errorf("the worker after the last delivery does not name the dead item:\n%s", p.output())
			}
			break
		}
		if attempts == q.DeliveryLimit && !strings.Contains(p.output(), `item "poison" was dead-lettered into `+q.Name+`.dead after delivery 3, its last allowed`) {
			t.Errorf("the last failed delivery does not say the item went to %s.dead:\n%s", q.Name, p.output())
		}
		if code != int(Failed) {
			t.Fatalf("worker exited %d, want 1:\n%s", code, p.output())
		}
		if !strings.Contains(p.output(), "boom") || !strings.Contains(p.output(), "exit status 7") {
			t.Errorf("worker output lacks the command's stderr or status:\n%s", p.output())
		}
	}
	st, err := Status(context.Background(), conn, q.Name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Dead != 1 || st.Ready != 0 || !slices.Equal(st.DeadItems, []string{"poison"}) {
		t.Fatalf("after %d failed deliveries: %+v, want the item dead-lettered", attempts, st)
	}
	// RabbitMQ 3.10 dead-letters once the delivery count exceeds the limit.
	if attempts != q.DeliveryLimit+1 {
		t.Errorf("the item was delivered %d times with x-delivery-limit %d", attempts, q.DeliveryLimit)
	}
}

func TestWorkNoItem(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	t.Run("never sealed", func(t *testing.T) {
		q := brokertest.Queue(t)
		p := start(t, "", "work", "--queue", q, "--wait", "1s", "--", "true")
		if code := p.wait(t, 30*time.Second); code != int(NoItem) {
			t.Fatalf("exit %d, want 3:\n%s", code, p.output())
		}
		if !strings.Contains(p.output(), "was not seeded in time") {
			t.Errorf("output:\n%s", p.output())
		}
	})
	t.Run("items held by a worker that does not finish", func(t *testing.T) {
		q := quorum(brokertest.Queue(t))
		seedItems(t, conn, q, []string{"held"})
		dir := t.TempDir()
		holder := start(t, "", "work", "--queue", q.Name, "--", "sh", "-c", "touch "+dir+"/started; sleep 60")
		t.Cleanup(holder.kill)
		eventually(t, 20*time.Second, "the first worker to hold the item", func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil })
		p := start(t, "", "work", "--queue", q.Name, "--wait", "3s", "--", "true")
		if code := p.wait(t, 30*time.Second); code != int(NoItem) {
			t.Fatalf("exit %d, want 3: an item is still held, the run is not complete:\n%s", code, p.output())
		}
		if !strings.Contains(p.output(), "the run is not complete (0 of 1 items are done)") {
			t.Errorf("output:\n%s", p.output())
		}
	})
}

func TestWorkTimeout(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := quorum(brokertest.Queue(t))
	seedItems(t, conn, q, []string{"slow"})
	p := start(t, "", "work", "--queue", q.Name, "--timeout", "1s", "--grace", "1s", "--", "sleep", "60")
	if code := p.wait(t, 30*time.Second); code != int(Failed) {
		t.Fatalf("exit %d, want 1:\n%s", code, p.output())
	}
	if !strings.Contains(p.output(), "ran past its timeout of 1s") {
		t.Errorf("output:\n%s", p.output())
	}
	eventually(t, 10*time.Second, "the item back in the queue", func() bool { r, _ := brokertest.Depth(t, conn, q.Name); return r == 1 })
}

// SIGTERM goes on to the command, and nothing is acknowledged after it,
// even though the command then exits 0.
func TestWorkSIGTERM(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := quorum(brokertest.Queue(t))
	seedItems(t, conn, q, []string{"interrupted"})
	dir := t.TempDir()
	script := fmt.Sprintf(`trap 'echo term > %s/got-term; exit 0' TERM; touch %s/started; while :; do sleep 0.1; done`, dir, dir)
	p := start(t, "", "work", "--queue", q.Name, "--", "sh", "-c", script)
	eventually(t, 20*time.Second, "the command to start", func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil })
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 30*time.Second); code != int(Failed) {
		t.Fatalf("exit %d, want 1:\n%s", code, p.output())
	}
	if _, err := os.Stat(filepath.Join(dir, "got-term")); err != nil {
		t.Errorf("the command did not get SIGTERM:\n%s", p.output())
	}
	eventually(t, 10*time.Second, "the item back in the queue", func() bool { r, _ := brokertest.Depth(t, conn, q.Name); return r == 1 })
}

// The connection to the broker dies while the command runs: the worker
// exits 4, never 0, and the item is delivered again.
func TestWorkConnectionLost(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := quorum(brokertest.Queue(t))
	seedItems(t, conn, q, []string{"fragile"})
	u, err := url.Parse(brokertest.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := brokertest.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	dir := t.TempDir()
	p := start(t, u.String(), "work", "--queue", q.Name, "--", "sh", "-c", "touch "+dir+"/started; sleep 5; exit 0")
	eventually(t, 20*time.Second, "the command to start", func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil })
	proxy.Cut()
	if code := p.wait(t, 30*time.Second); code != int(BrokerError) {
		t.Fatalf("exit %d, want 4:\n%s", code, p.output())
	}
	if !strings.Contains(p.output(), "connection lost while the command ran") {
		t.Errorf("output:\n%s", p.output())
	}
	eventually(t, 10*time.Second, "the item back in the queue", func() bool { r, _ := brokertest.Depth(t, conn, q.Name); return r == 1 })
}

// A run leaves the queue and its companions (seal, dead letters, ledger);
// brokertest.Delete, which every test's cleanup calls, removes them all,
// so that tests leave nothing on the shared broker.
func TestDeleteRemovesCompanions(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := brokertest.Queue(t)
	itemsFile := filepath.Join(t.TempDir(), "items.txt")
	if err := os.WriteFile(itemsFile, []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p := start(t, "", "seed", "--queue", q, "--items", itemsFile); p.wait(t, time.Minute) != 0 {
		t.Fatalf("seed:\n%s", p.output())
	}
	if p := start(t, "", "work", "--queue", q, "--wait", "20s", "--", "cat"); p.wait(t, time.Minute) != 0 {
		t.Fatalf("work:\n%s", p.output())
	}
	names := []string{q, q + SealSuffix, q + DeadSuffix, q + DoneSuffix}
	exists := func(name string) bool {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Close()
		_, err = ch.QueueDeclarePassive(name, true, false, false, false, nil)
		return err == nil
	}
	for _, n := range names {
		if !exists(n) {
			t.Fatalf("%s was not declared by the run: the test proves nothing", n)
		}
	}
	brokertest.Delete(q)
	for _, n := range append(names, q+LockSuffix) {
		if exists(n) {
			t.Errorf("%s is left after brokertest.Delete", n)
		}
	}
}
