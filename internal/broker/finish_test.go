package broker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/jobwq/jobwq/internal/brokertest"
)

// A worker started after every item was acknowledged finds the run
// complete and exits 0 at once: the replacement for a worker killed after
// its ack, a Job applied again after its run, a re-run of run --local.
func TestWorkFinishedRunExitsZero(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := quorum(brokertest.Queue(t))
	seedItems(t, conn, q, []string{"one", "two"})
	for range 2 {
		if p := start(t, "", "work", "--queue", q.Name, "--", "true"); p.wait(t, 30*time.Second) != 0 {
			t.Fatalf("worker failed:\n%s", p.output())
		}
	}
	t0 := time.Now()
	p := start(t, "", "work", "--queue", q.Name, "--wait", "10m", "--", "true")
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d on a finished run, want 0:\n%s", code, p.output())
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("the worker took %v to see the run complete", d)
	}
	if !strings.Contains(p.output(), "the run is complete: all 2 items are done") {
		t.Errorf("output:\n%s", p.output())
	}
	st, err := Status(context.Background(), conn, q.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Complete() || st.Done != 2 || st.InFlight != 0 || st.Ready != 0 || st.Dead != 0 {
		t.Errorf("status %+v, want complete with 2 done", st)
	}
}

// A worker killed after its acknowledgement but before it exits: the item
// is done once, its replacement finds the run complete. Simulated by
// recording and acknowledging as the worker does, then closing without a
// word, which is all the broker sees of a SIGKILL at that point.
func TestAckThenCrash(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := quorum(brokertest.Queue(t))
	seedItems(t, conn, q, []string{"only"})
	crashed := brokertest.Dial(t)
	ch, err := crashed.Channel()
	if err != nil {
		t.Fatal(err)
	}
	ch.Confirm(false)
	d, ok, err := ch.Get(q.Name, false)
	if err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	if err := recordDone(context.Background(), ch, q.Name, d.MessageId); err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(false); err != nil {
		t.Fatal(err)
	}
	crashed.Close()

	p := start(t, "", "work", "--queue", q.Name, "--", "sh", "-c", "echo should not run; exit 9")
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("replacement exited %d, want 0:\n%s", code, p.output())
	}
	if strings.Contains(p.output(), "should not run") {
		t.Errorf("the replacement ran the command on a finished run:\n%s", p.output())
	}
}

// A worker that finds nothing to take while another holds an item waits,
// and takes the item when it comes back.
func TestWorkWaitsForAHeldItem(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := quorum(brokertest.Queue(t))
	seedItems(t, conn, q, []string{"flaky"})
	dir := t.TempDir()
	first := start(t, "", "work", "--queue", q.Name, "--", "sh", "-c", "touch "+dir+"/started; sleep 4; exit 1")
	eventually(t, 20*time.Second, "the first worker to hold the item", func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil })
	second := start(t, "", "work", "--queue", q.Name, "--wait", "1m", "--", "sh", "-c", "cat > "+dir+"/second")
	if code := first.wait(t, 30*time.Second); code != int(Failed) {
		t.Fatalf("first worker exited %d, want 1:\n%s", code, first.output())
	}
	if code := second.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("second worker exited %d, want 0:\n%s", code, second.output())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "second")); string(b) != "flaky" {
		t.Errorf("the second worker processed %q, want the item that came back", b)
	}
}

// A command that cannot be started is a usage error before any item is
// taken: the item is not even delivered, so it pays no delivery for a typo.
func TestWorkMissingCommand(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := quorum(brokertest.Queue(t))
	seedItems(t, conn, q, []string{"healthy"})
	notExec := filepath.Join(t.TempDir(), "worker.py")
	if err := os.WriteFile(notExec, []byte("print(1)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, command := range [][]string{{"pyhton3", "/w.py"}, {notExec}, {"/no/such/worker"}} {
		p := start(t, "", append([]string{"work", "--queue", q.Name, "--"}, command...)...)
		if code := p.wait(t, 30*time.Second); code != int(Usage) {
			t.Fatalf("%q: exit %d, want 2:\n%s", command, code, p.output())
		}
		if !strings.Contains(p.output(), "no item was taken") {
			t.Errorf("%q: output:\n%s", command, p.output())
		}
	}
	p := start(t, "", "work", "--queue", q.Name, "--", "true")
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("worker exited %d:\n%s", code, p.output())
	}
	if !strings.Contains(p.output(), "(delivery 1)") {
		t.Errorf("the item was delivered before the good worker:\n%s", p.output())
	}
}

// The command sees none of the broker's settings or credentials, and gets
// a HOME it can write to.
func TestWorkCommandEnvironment(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := quorum(brokertest.Queue(t))
	seedItems(t, conn, q, []string{"env"})
	out := filepath.Join(t.TempDir(), "env")
	p := startEnv(t, "", []string{"BROKER_PASSWORD=s3cret", "JOBWQ_TOKEN=t", "HOME=/nonexistent/home"},
		"work", "--queue", q.Name, "--", "sh", "-c", `env > `+out+` && touch "$HOME/.written"`)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d: the command could not write to its HOME?\n%s", code, p.output())
	}
	env, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the command did not run:\n%s", p.output())
	}
	for _, line := range strings.Split(string(env), "\n") {
		if strings.HasPrefix(line, "BROKER_") || strings.HasPrefix(line, "JOBWQ_") || strings.Contains(line, "s3cret") || strings.Contains(line, "guest:guest") {
			t.Errorf("the command's environment holds %s", line)
		}
		if line == "HOME=/nonexistent/home" {
			t.Errorf("the command kept an unwritable HOME")
		}
	}
}

// SIGTERM ends a worker within a second in every phase where it waits:
// for the broker, for the seal, for an item on a drained but unfinished
// run.
func TestWorkStopsOnSIGTERM(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	held := quorum(brokertest.Queue(t))
	seedItems(t, conn, held, []string{"held"})
	dir := t.TempDir()
	holder := start(t, "", "work", "--queue", held.Name, "--", "sh", "-c", "touch "+dir+"/started; sleep 60")
	t.Cleanup(holder.kill)
	eventually(t, 20*time.Second, "a worker to hold the item", func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil })
	for _, tc := range []struct {
		name, url, queue, waiting string
	}{
		{"connecting", "amqp://guest:guest@127.0.0.1:1/", brokertest.Queue(t), "broker not reachable"},
		{"waiting for the seal", "", brokertest.Queue(t), "to be seeded"},
		{"waiting for an item", "", held.Name, "reading the ledger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, tc.url, "work", "--queue", tc.queue, "--wait", "10m", "--", "true")
			eventually(t, 20*time.Second, "the worker to wait", func() bool { return strings.Contains(p.output(), tc.waiting) })
			t0 := time.Now()
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			code := p.wait(t, 10*time.Second)
			if d := time.Since(t0); d > time.Second {
				t.Errorf("the worker took %v to stop", d)
			}
			if code != int(Failed) {
				t.Errorf("exit %d, want 1:\n%s", code, p.output())
			}
		})
	}
}

// Usage errors are exit 2 before anything reaches the broker, never 4
// (which a Job retries); a queue declared earlier with other settings is
// one clear line.
func TestUsageErrors(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	items := filepath.Join(t.TempDir(), "items")
	if err := os.WriteFile(items, []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := brokertest.Queue(t)
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(other, true, false, false, false, amqp.Table{"x-queue-type": "classic"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"seed", "--queue", "amq.x", "--items", items}, "starts with amq."},
		{[]string{"seed", "--queue", strings.Repeat("q", 256), "--items", items}, "at most 250 are allowed"},
		{[]string{"seed", "--queue", "q", "--window", "-1", "--items", items}, "--window -1"},
		{[]string{"seed", "--queue", "q", "--delivery-limit", "0", "--items", items}, "delivery limit 0"},
		{[]string{"seed", "--queue", other, "--items", items}, "already exists with other settings"},
		{[]string{"work", "--queue", "q", "--wait", "0s", "--", "true"}, "--wait 0s"},
		{[]string{"work", "--queue", "amq.q", "--", "true"}, "starts with amq."},
		{[]string{"status", "--queue", ""}, "give a SPEC or --queue"},
	} {
		p := start(t, "", tc.args...)
		if code := p.wait(t, 30*time.Second); code != 2 {
			t.Errorf("%q: exit %d, want 2:\n%s", tc.args, code, p.output())
		}
		if out := p.output(); !strings.Contains(out, tc.want) || strings.Count(strings.TrimSpace(out), "\n") > 2 {
			t.Errorf("%q: want one clear line with %q:\n%s", tc.args, tc.want, out)
		}
	}
}

// jobwq retry puts dead items back exactly once, even when killed midway
// and run again.
func TestRetryExactlyOnce(t *testing.T) {
	brokertest.Exclusive(t)
	conn := brokertest.Dial(t)
	q := quorum(brokertest.Queue(t))
	seedItems(t, conn, q, []string{"x"})
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	// Take the one seeded item out of the way and fill Q.dead as a long
	// run of poison items would.
	if d, ok, err := ch.Get(q.Name, false); err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	} else {
		d.Ack(false)
	}
	const n = 20000
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := ch.PublishWithContext(context.Background(), "", q.Name+DeadSuffix, false, false, amqp.Publishing{MessageId: fmt.Sprint(i), Body: []byte(fmt.Sprintf("dead-%05d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "the dead items", func() bool { r, _ := brokertest.Depth(t, conn, q.Name+DeadSuffix); return r == n })

	p := start(t, "", "retry", "--queue", q.Name)
	eventually(t, 30*time.Second, "retry to move some", func() bool { r, _ := brokertest.Depth(t, conn, q.Name); return r > 0 })
	p.kill()
	p.wait(t, 10*time.Second)
	p = start(t, "", "retry", "--queue", q.Name)
	if code := p.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("second retry exited %d:\n%s", code, p.output())
	}
	if dead, _ := brokertest.Depth(t, conn, q.Name+DeadSuffix); dead != 0 {
		t.Errorf("%d items left in %s", dead, q.Name+DeadSuffix)
	}
	// Every item exactly once.
	rc, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		d, ok, err := rc.Get(q.Name, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, string(d.Body))
	}
	slices.Sort(got)
	if len(got) != n || len(slices.Compact(slices.Clone(got))) != n {
		t.Fatalf("%d items back in the queue (%d distinct), want %d", len(got), len(slices.Compact(got)), n)
	}
}

// --items-per-pod: a worker takes up to N items one after another, each
// recorded and acknowledged; a failed one ends it and the ones it finished
// stay done; the last pod ends when the run is complete.
func TestWorkItemsPerPod(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := quorum(brokertest.Queue(t))
	seedItems(t, conn, q, []string{"a", "b", "c", "bad", "e"})
	dir := t.TempDir()
	worker := func(args ...string) *proc {
		return start(t, "", append([]string{"work", "--queue", q.Name, "--items-per-pod", "2", "--wait", "20s", "--"}, args...)...)
	}
	if p := worker(recorder(dir)...); p.wait(t, 30*time.Second) != 0 || strings.Count(p.output(), "done and acknowledged") != 2 {
		t.Fatalf("first pod:\n%s", p.output())
	}
	// "c" then "bad": the second fails, "c" stays done.
	p := worker("sh", "-c", `read item; test "$item" != bad && echo "$item" > `+dir+`/item.c`)
	if code := p.wait(t, 30*time.Second); code != int(Failed) {
		t.Fatalf("second pod exited %d, want 1:\n%s", code, p.output())
	}
	// The rest, then a pod that finds the run complete.
	for range 2 {
		if p := worker(recorder(dir)...); p.wait(t, 30*time.Second) != 0 {
			t.Fatalf("pod failed:\n%s", p.output())
		}
	}
	if got := processed(t, dir); !slices.Equal(got, []string{"a", "b", "bad", "c\n", "e"}) {
		t.Errorf("processed %q", got)
	}
	st, err := Status(context.Background(), conn, q.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Complete() {
		t.Errorf("status %+v, want complete", st)
	}
}
