package broker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/jobwq/jobwq/internal/brokertest"
)

func TestSeedExactlyOnce(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	for _, typ := range []string{"quorum", "classic"} {
		t.Run(typ, func(t *testing.T) {
			q := Queue{Name: brokertest.Queue(t), Type: typ, DeliveryLimit: 3}
			list := numbered(1000)
			if res := seedItems(t, conn, q, list); res.Published != 1000 || res.AlreadySealed {
				t.Fatalf("first seed = %+v", res)
			}
			if ready, _ := brokertest.Depth(t, conn, q.Name); ready != 1000 {
				t.Fatalf("depth = %d, want 1000", ready)
			}
			st, err := Status(context.Background(), conn, q.Name)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Sealed || st.Total != 1000 || st.Digest != source(list).Digest || st.Seeding {
				t.Errorf("status = %+v", st)
			}
			// Again after success: nothing more.
			if res := seedItems(t, conn, q, list); !res.AlreadySealed || res.Published != 0 {
				t.Fatalf("second seed = %+v", res)
			}
			if ready, _ := brokertest.Depth(t, conn, q.Name); ready != 1000 {
				t.Fatalf("depth after re-run = %d, want 1000", ready)
			}
		})
	}
}

func TestSeedRefusesOtherItems(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := quorum(brokertest.Queue(t))
	seedItems(t, conn, q, []string{"apple", "banana"})
	_, err := Seed(context.Background(), conn, SeedOptions{Queue: q, Items: source([]string{"apple", "cherry"})})
	var refused *RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("seed with other items = %v, want a RefusedError", err)
	}
	if !strings.Contains(err.Error(), "already seeded with a different item set (2 items, sha256:") {
		t.Errorf("message: %v", err)
	}
	if ready, _ := brokertest.Depth(t, conn, q.Name); ready != 2 {
		t.Errorf("depth = %d, want the first run's 2", ready)
	}
}

// An interrupted seeding leaves items without a seal; the next run starts
// over rather than adding to them.
func TestSeedPurgesUnsealedLeftovers(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := quorum(brokertest.Queue(t))
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(q.Name, true, false, false, false, q.args()); err != nil {
		t.Fatal(err)
	}
	for _, it := range []string{"item-000000", "item-000001", "stale"} {
		if err := ch.Publish("", q.Name, false, false, amqp.Publishing{Body: []byte(it), DeliveryMode: amqp.Persistent}); err != nil {
			t.Fatal(err)
		}
	}
	ch.Close()
	eventually(t, 5*time.Second, "leftovers in the queue", func() bool { r, _ := brokertest.Depth(t, conn, q.Name); return r == 3 })
	seedItems(t, conn, q, numbered(10))
	if ready, _ := brokertest.Depth(t, conn, q.Name); ready != 10 {
		t.Fatalf("depth = %d, want exactly 10", ready)
	}
}

func TestSeedWaitsForTheLock(t *testing.T) {
	brokertest.Shared(t)
	holder := brokertest.Dial(t)
	conn := brokertest.Dial(t)
	q := quorum(brokertest.Queue(t))
	ch, err := holder.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(q.Name+LockSuffix, false, false, true, false, nil); err != nil {
		t.Fatal(err)
	}
	_, err = Seed(context.Background(), conn, SeedOptions{Queue: q, Items: source(numbered(3)), LockWait: 1500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "another seeder has held "+q.Name+LockSuffix) {
		t.Fatalf("seed while locked = %v", err)
	}
	st, _ := Status(context.Background(), conn, q.Name)
	if !st.Seeding {
		t.Errorf("status does not show the seeder at work: %+v", st)
	}
	// The holder's connection ends, as a killed seeder's does.
	holder.Close()
	seedItems(t, conn, q, numbered(3))
}

// A seeder killed with SIGKILL in the middle, then run again: each item is
// in the queue exactly once.
func TestSeedKilledMidwayThenRerun(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := brokertest.Queue(t)
	items := writeItems(t, 200_000)
	p := start(t, "", "seed", "--queue", q, "--items", items)
	waitPublishing(t, conn, q)
	p.kill()
	p.wait(t, 10*time.Second)
	st, err := Status(context.Background(), conn, q)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sealed {
		t.Fatalf("the seeder sealed %d items before it was killed; the test needs more items", st.Ready)
	}
	t.Logf("killed with %d items published", st.Ready)

	p = start(t, "", "seed", "--queue", q, "--items", items)
	if code := p.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("re-run exited %d:\n%s", code, p.output())
	}
	if ready, _ := brokertest.Depth(t, conn, q); ready != 200_000 {
		t.Fatalf("depth = %d, want exactly 200000", ready)
	}
	if !strings.Contains(p.output(), "purged them to start over") {
		t.Errorf("re-run did not say it started over:\n%s", p.output())
	}
}

// The broker restarting under a seeder: the seeder fails clearly or
// finishes, and a re-run leaves exactly N.
func TestSeedBrokerRestart(t *testing.T) {
	brokertest.Exclusive(t)
	conn := brokertest.Dial(t)
	q := brokertest.Queue(t)
	items := writeItems(t, 200_000)
	p := start(t, "", "seed", "--queue", q, "--items", items, "--connect-timeout", "2m")
	waitPublishing(t, conn, q)
	brokertest.RestartApp(t)
	code := p.wait(t, 2*time.Minute)
	out := p.output()
	switch code {
	case 0:
		t.Logf("the seeder finished across the restart")
	case 4:
		if !strings.Contains(out, "connection lost") && !strings.Contains(out, "channel closed") {
			t.Errorf("exit 4 without a clear reason:\n%s", out)
		}
		t.Logf("the seeder failed across the restart: %s", strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]))
	default:
		t.Fatalf("seeder exited %d across a broker restart:\n%s", code, out)
	}
	conn2 := brokertest.Dial(t)
	p = start(t, "", "seed", "--queue", q, "--items", items)
	if code := p.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("re-run exited %d:\n%s", code, p.output())
	}
	if ready, _ := brokertest.Depth(t, conn2, q); ready != 200_000 {
		t.Fatalf("depth = %d, want exactly 200000", ready)
	}
}

func writeItems(t testing.TB, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "items.txt")
	var b strings.Builder
	for _, it := range numbered(n) {
		b.WriteString(it)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitPublishing waits until a seeder is well into publishing to q.
func waitPublishing(t testing.TB, conn *amqp.Connection, q string) {
	t.Helper()
	eventually(t, 30*time.Second, "the seeder to publish", func() bool {
		ch, err := conn.Channel()
		if err != nil {
			return false
		}
		defer ch.Close()
		st, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
		return err == nil && st.Messages > 1000
	})
}

// TestSeedQuorumGroupSize: the rabbitmqcluster variant's seeder spreads
// the queue over the cluster's nodes. A single-node broker (this
// machine's) accepts a larger group and places what it can; a re-run with
// the same size finds the queue as it left it.
func TestSeedQuorumGroupSize(t *testing.T) {
	brokertest.Shared(t)
	conn := brokertest.Dial(t)
	q := Queue{Name: brokertest.Queue(t), Type: "quorum", DeliveryLimit: 3, GroupSize: 3}
	if got := q.args()["x-quorum-initial-group-size"]; got != int64(3) {
		t.Fatalf("x-quorum-initial-group-size = %v, want 3", got)
	}
	list := []string{"apple", "banana"}
	if res := seedItems(t, conn, q, list); res.Published != 2 {
		t.Fatalf("seed = %+v", res)
	}
	if res := seedItems(t, conn, q, list); !res.AlreadySealed {
		t.Fatalf("second seed = %+v, want the queue found sealed", res)
	}
	if err := (Queue{Name: "q", Type: "quorum", DeliveryLimit: 1, GroupSize: -1}).Validate(); err == nil {
		t.Error("a negative group size validated")
	}
	if _, ok := (Queue{Name: "q", Type: "classic", DeliveryLimit: 1, GroupSize: 3}).args()["x-quorum-initial-group-size"]; ok {
		t.Error("a classic queue was declared with a quorum group size")
	}
}
