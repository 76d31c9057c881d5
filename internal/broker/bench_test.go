package broker

import (
	"context"
	"fmt"
	"strconv"

	"os/exec"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/jobwq/jobwq/internal/brokertest"
)

// The seeding benchmarks run side by side: Seed against a bare amqp091-go
// publisher with the same window of confirms, the rate the issue measures
// Seed by (at least 0.8x). Both report items/s.
//
//	go test -run '^$' -bench 'Seed|BarePublish' -benchtime 3x ./internal/broker

const benchItems = 100_000

func BenchmarkSeed100k(b *testing.B) {
	brokertest.Shared(b)
	conn := brokertest.Dial(b)
	set := source(numbered(benchItems))
	var total time.Duration
	for b.Loop() {
		q := quorum(brokertest.Queue(b))
		t0 := time.Now()
		if _, err := Seed(context.Background(), conn, SeedOptions{Queue: q, Items: set}); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
		brokertest.Delete(q.Name)
	}
	b.ReportMetric(float64(benchItems*b.N)/total.Seconds(), "items/s")
}

func BenchmarkBarePublish100k(b *testing.B) {
	brokertest.Shared(b)
	conn := brokertest.Dial(b)
	items := numbered(benchItems)
	var total time.Duration
	for b.Loop() {
		q := quorum(brokertest.Queue(b))
		t0 := time.Now()
		barePublish(b, conn, q, items, DefaultWindow)
		total += time.Since(t0)
		brokertest.Delete(q.Name)
	}
	b.ReportMetric(float64(benchItems*b.N)/total.Seconds(), "items/s")
}

// barePublish is the least a publisher with confirms can do: declare,
// publish persistent, keep window confirms outstanding, wait for the rest.
func barePublish(b *testing.B, conn *amqp.Connection, q Queue, items []string, window int) {
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	defer ch.Close()
	if _, err := ch.QueueDeclare(q.Name, true, false, false, false, q.args()); err != nil {
		b.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, window))
	outstanding := 0
	for _, it := range items {
		if outstanding >= window {
			<-confirms
			outstanding--
		}
		if err := ch.Publish("", q.Name, false, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(it)}); err != nil {
			b.Fatal(err)
		}
		outstanding++
	}
	for ; outstanding > 0; outstanding-- {
		<-confirms
	}
}

// One worker's whole life per item, side by side with the article's
// `amqp-consume -c 1` (Debian's amqp-tools): start, connect, take one,
// run `cat` on the item, ack, exit.
//
//	go test -run '^$' -bench 'PerItem' -benchtime 50x ./internal/broker
func BenchmarkWorkerPerItem(b *testing.B) {
	work := seededWorker(b)
	for range b.N {
		work()
	}
}

// The same work with itemsPerPod: one worker process takes every item in
// turn (start and connection paid once), recording and acknowledging each.
func BenchmarkWorkerPerItemBatched(b *testing.B) {
	seededWorker(b)("--items-per-pod", strconv.Itoa(b.N))
}

// seededWorker seeds b.N items into a quorum queue, resets the timer and
// returns a run of `jobwq work ARGS -- cat` on that queue.
func seededWorker(b *testing.B) func(args ...string) {
	brokertest.Shared(b)
	conn := brokertest.Dial(b)
	q := quorum(brokertest.Queue(b))
	bin := jobwqBin(b)
	seedItems(b, conn, q, numbered(b.N))
	b.ResetTimer()
	return func(args ...string) {
		args = append(append([]string{"work", "--queue", q.Name, "--wait", "5s"}, args...), "--", "cat")
		c := exec.Command(bin, args...)
		c.Env = append(c.Environ(), EnvURL+"="+brokertest.URL())
		if out, err := c.CombinedOutput(); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
	}
}

// amqp-consume on the classic queue the article uses, and on a quorum
// queue like jobwq's, whose consumer registration the broker commits to the
// queue's log before the first delivery. (-c 1 gives it a prefetch of 1 but
// no cancel: the next item is delivered after its ack and goes back to the
// queue when it exits, a delivery that a quorum queue counts towards its
// delivery limit. jobwq's worker cancels its consumer first.)
func BenchmarkAmqpConsumePerItem(b *testing.B) {
	amqpConsumePerItem(b, Queue{Name: brokertest.Queue(b), Type: "classic"})
}

func BenchmarkAmqpConsumePerItemQuorum(b *testing.B) {
	amqpConsumePerItem(b, quorum(brokertest.Queue(b)))
}

func amqpConsumePerItem(b *testing.B, q Queue) {
	consume, err := exec.LookPath("amqp-consume")
	if err != nil {
		b.Fatal("amqp-consume not found: install Debian's amqp-tools to compare (apt-get install amqp-tools)")
	}
	brokertest.Shared(b)
	conn := brokertest.Dial(b)
	barePublish(b, conn, q, numbered(b.N), DefaultWindow)
	// rabbitmq-c reads a trailing "/" as the empty vhost.
	url := strings.TrimSuffix(brokertest.URL(), "/")
	b.ResetTimer()
	for range b.N {
		out, err := exec.Command(consume, "--url", url, "-q", q.Name, "-c", "1", "cat").CombinedOutput()
		if err != nil {
			b.Fatalf("amqp-consume: %v\n%s", err, out)
		}
	}
}

// The article's seeding loop, one `amqp-publish -p` process per item, for
// the same side-by-side table (run it with a small -benchtime: about 24
// items/s).
func BenchmarkAmqpPublishLoop(b *testing.B) {
	publish, err := exec.LookPath("amqp-publish")
	if err != nil {
		b.Fatal("amqp-publish not found: install Debian's amqp-tools to compare (apt-get install amqp-tools)")
	}
	brokertest.Shared(b)
	conn := brokertest.Dial(b)
	q := Queue{Name: brokertest.Queue(b), Type: "classic"}
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ch.QueueDeclare(q.Name, true, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	ch.Close()
	url := strings.TrimSuffix(brokertest.URL(), "/")
	b.ResetTimer()
	t0 := time.Now()
	for i := range b.N {
		out, err := exec.Command(publish, "--url", url, "-r", q.Name, "-p", "-b", fmt.Sprintf("item-%06d", i)).CombinedOutput()
		if err != nil {
			b.Fatalf("amqp-publish: %v\n%s", err, out)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "items/s")
}
