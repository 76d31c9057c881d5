package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/jobwq/jobwq/internal/exitcode"
	"github.com/jobwq/jobwq/internal/itemcmd"
)

// Outcome is how one worker run ended; each has its own exit code so the
// Job's podFailurePolicy can tell them apart.
type Outcome int

const (
	// Done: the command succeeded and the item is acknowledged, or the run
	// turned out complete with nothing left to take.
	Done Outcome = exitcode.OK
	// Failed: the command failed or ran out of time, and the item went
	// back to the queue, or to Q.dead after its last allowed delivery; or
	// the worker was told to stop, and the item went back as a new
	// message, that delivery not counted.
	Failed Outcome = exitcode.Failed
	// Usage: the worker cannot work as configured (the command cannot be
	// started, the queue's settings conflict); no item was taken.
	Usage Outcome = exitcode.Usage
	// NoItem: no item to take, and the run is not complete: items were
	// dead-lettered, or the queue was never sealed, or items held by other
	// workers did not come back within the wait.
	NoItem Outcome = exitcode.NoItem
	// BrokerError: the broker could not be reached or the connection was
	// lost; if an item was taken, the broker returns it to the queue.
	BrokerError Outcome = exitcode.Broker
)

// WorkOptions configure Work.
type WorkOptions struct {
	Queue string
	// DeliveryLimit is the queue's, for saying when a failed item goes to
	// Q.dead rather than back to the queue (0: unknown).
	DeliveryLimit int
	// PerPod is how many items to take, one after another (at least one).
	// A failed item ends the run of the pod.
	PerPod int
	// Wait bounds the wait for the seal and then for an item.
	Wait time.Duration
	// Timeout bounds the command's run on one item.
	Timeout time.Duration
	// Grace is how long a stopped command has between SIGTERM and SIGKILL.
	Grace   time.Duration
	Command []string
	// Env is the command's environment (see itemcmd.Env); nil means this
	// process's, as itemcmd.Env leaves it.
	Env    []string
	Stdout io.Writer
	Stderr io.Writer
	Logf   func(format string, args ...any)
}

// WorkError explains an outcome other than Done.
type WorkError struct {
	Outcome Outcome
	Err     error
}

func (e *WorkError) Error() string { return e.Err.Error() }
func (e *WorkError) Unwrap() error { return e.Err }

func workErr(o Outcome, format string, args ...any) error {
	return &WorkError{Outcome: o, Err: fmt.Errorf(format, args...)}
}

// Work takes an item from the queue (PerPod of them, one after another)
// and runs the command with the item on its standard input. The item is
// recorded in the ledger and acknowledged only after the command exits 0;
// in every other case it is returned (or, after its last allowed delivery,
// dead-lettered) and the worker ends. Cancelling ctx, as SIGTERM does,
// stops the command with SIGTERM and puts the item back as a new message
// (see putBack): a stop is not the item's failure.
//
// A worker that finds nothing to take reads the ledger: when every item
// of the seeded set is done, the run is complete and it ends Done without
// an item (a replacement for a worker killed after its acknowledgement,
// or a Job applied again after the run); when the items not done are all
// dead-lettered, it ends NoItem naming them; otherwise items are held by
// other workers and it waits for one to come back.
//
// After its last item, and after a failed one, Work closes conn itself:
// waiting for the broker's answer to that is what makes the outcome mean
// the item was acknowledged (or returned).
//
// A nil error means Done; otherwise the error is a *WorkError with the
// outcome.
func Work(ctx context.Context, conn *amqp.Connection, opts WorkOptions) error {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Grace <= 0 {
		opts.Grace = 10 * time.Second
	}
	if opts.Env == nil {
		opts.Env = itemcmd.Env(os.Environ())
	}
	if err := itemcmd.Check(opts.Command); err != nil {
		return &WorkError{Outcome: Usage, Err: fmt.Errorf("%w; no item was taken", err)}
	}
	deadline := time.Now().Add(opts.Wait)
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))

	// Two channels, set up at once rather than one step after another: the
	// consumer's, given its prefetch while the seal is checked on the
	// other, which then writes the ledger. Only the consume itself must
	// wait for the seal.
	consumer := make(chan openResult, 1)
	go func() { consumer <- openConsumer(conn) }()
	lch, err := waitForSeal(ctx, conn, opts.Queue, deadline, opts.Logf)
	c := <-consumer
	if c.ch != nil {
		defer closeChannel(c.ch)
	}
	if err != nil {
		return err
	}
	// The ledger's channel enters confirm mode while the consumer starts;
	// the first record waits for it. (amqp091-go waits for select-ok even
	// when asked not to, and the broker sends none then.)
	confirmed := make(chan error, 1)
	go func() { confirmed <- lch.Confirm(false) }()
	confirming := sync.OnceValue(func() error { return <-confirmed })
	defer func() {
		// Not closed under a call still waiting for its answer.
		confirming()
		closeChannel(lch)
	}()
	if c.err != nil {
		return c.err
	}
	ch := c.ch
	// What the seal says (how many items) matters only to a worker that
	// finds nothing to take: most take an item at once, and reading the
	// seal costs them five round trips.
	var (
		s      seal
		sealed bool
	)
	readSealOnce := func() (seal, error) {
		if !sealed {
			got, _, err := readSeal(conn, opts.Queue)
			if err != nil {
				return seal{}, workErr(BrokerError, "%w", err)
			}
			s, sealed = got, true
		}
		return s, nil
	}
	record := func(ctx context.Context, id string) error {
		if err := confirming(); err != nil {
			return fmt.Errorf("enable publisher confirms: %w", err)
		}
		return recordDone(ctx, lch, opts.Queue, id)
	}
	deliveries, err := ch.Consume(opts.Queue, consumerTag, false, false, false, false, nil)
	if err != nil {
		return workErr(BrokerError, "consume from %s: %w", opts.Queue, err)
	}
	for n := 1; ; n++ {
		d, err := waitForItem(ctx, conn, deliveries, closed, readSealOnce, deadline, opts)
		if err != nil || d == nil {
			if d == nil && err == nil && n > 1 {
				opts.Logf("did %d items; the run is complete", n-1)
			}
			return err
		}
		last := n >= opts.PerPod
		if last {
			// Take no more: with prefetch 1 nothing else is in flight, and
			// the cancel makes that true for the rest of the run too. Not
			// waiting for cancel-ok saves a round trip; a failed cancel
			// fails the ack below.
			if err := ch.Cancel(consumerTag, true); err != nil {
				return workErr(BrokerError, "cancel consumer: %w", err)
			}
		}
		if err := process(ctx, conn, ch, record, closed, d, last, opts); err != nil {
			return err
		}
		if last {
			return nil
		}
		// The next item gets a wait of its own.
		deadline = time.Now().Add(opts.Wait)
	}
}

// process runs the command on one delivered item and settles it: recorded
// in the ledger and acknowledged after success, put back afresh after a
// stop, rejected after failure. The last item of a pod, and a failed or
// stopped one, closes the connection: the broker answers a connection's
// close only after every channel on it has ended, so after it processed
// the acknowledgement or rejection.
func process(ctx context.Context, conn *amqp.Connection, ch *amqp.Channel, record func(context.Context, string) error, closed <-chan *amqp.Error, d *amqp.Delivery, last bool, opts WorkOptions) error {
	attempt := deliveryCount(*d) + 1
	item := itemcmd.Describe(d.Body)
	opts.Logf("took item %s from %s (delivery %d)", item, opts.Queue, attempt)
	runErr := run(ctx, closed, d.Body, opts)

	var lost *connLost
	switch {
	case errors.As(runErr, &lost):
		return workErr(BrokerError, "connection lost while the command ran on item %s; the broker returns it to the queue: %v", item, lost.err)
	case runErr == nil:
		// Recorded and acknowledged even if SIGTERM arrives now: the work
		// is done, and redoing it would be the waste.
		settle, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if d.MessageId == "" {
			opts.Logf("item %s has no index (seeded by an older jobwq?): it is not recorded in the ledger", item)
		} else if err := record(settle, d.MessageId); err != nil {
			return workErr(BrokerError, "item %s: %w; the broker returns it to the queue", item, err)
		}
		if err := d.Ack(false); err != nil {
			return workErr(BrokerError, "acknowledge item %s: %w", item, err)
		}
		if last {
			if err := closeConnWithin(conn, 10*time.Second); err != nil {
				return workErr(BrokerError, "acknowledge item %s: %w", item, err)
			}
		}
		opts.Logf("item %s done and acknowledged", item)
		return nil
	case ctx.Err() != nil:
		// Stopped (preemption, eviction, a drain): the item did nothing
		// wrong, and a return would count as one of its deliveries on a
		// quorum queue (every requeue counts on RabbitMQ 3.10 to 4.2), so
		// a healthy item stopped deliveryLimit times would be
		// dead-lettered. It goes back as a new message instead.
		settle, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := putBack(settle, ch, last, d, opts.Queue); err != nil {
			return workErr(Failed, "%v; item %s could not be put back afresh (%v): the broker returns it to %s with this delivery counted", runErr, item, err, opts.Queue)
		}
		if err := closeConnWithin(conn, 10*time.Second); err != nil {
			return workErr(Failed, "%v; put item %s back: %v", runErr, item, err)
		}
		return workErr(Failed, "%v; item %s went back to %s as a new message, this delivery not counted against it", runErr, item, opts.Queue)
	default:
		// Rejected, not nacked: every RabbitMQ version counts a reject
		// towards a quorum queue's delivery limit (4.3 stopped counting
		// nacks), so a poison item cannot loop forever. On a classic queue
		// the Job's backoffLimit is the bound.
		if err := d.Reject(true); err != nil {
			return workErr(BrokerError, "return item %s after failure (%v): %w", item, runErr, err)
		}
		if err := closeConnWithin(conn, 10*time.Second); err != nil {
			return workErr(BrokerError, "return item %s after failure (%v): %w", item, runErr, err)
		}
		where := fmt.Sprintf("went back to %s (delivery %d)", opts.Queue, attempt)
		if opts.DeliveryLimit > 0 && attempt > opts.DeliveryLimit {
			where = fmt.Sprintf("was dead-lettered into %s after delivery %d, its last allowed", opts.Queue+DeadSuffix, attempt)
		}
		return workErr(Failed, "%v; item %s %s", runErr, item, where)
	}
}

// putBack returns a stopped worker's item to the tail of the queue as a new
// message (same body and index, no deliveries counted) and acknowledges the
// delivery, in one AMQP transaction: the broker applies both or, if the
// connection ends before the commit, neither (and then returns the
// delivery itself). So the item is in the queue exactly once either way;
// the ledger, keyed by the index, is unaffected. The consumer is cancelled
// first, so that nothing more is delivered to a worker that is stopping.
func putBack(ctx context.Context, ch *amqp.Channel, cancelled bool, d *amqp.Delivery, queue string) error {
	if !cancelled {
		if err := ch.Cancel(consumerTag, true); err != nil {
			return fmt.Errorf("cancel consumer: %w", err)
		}
	}
	if err := ch.Tx(); err != nil {
		return fmt.Errorf("start a transaction: %w", err)
	}
	err := ch.PublishWithContext(ctx, "", queue, false, false, amqp.Publishing{
		DeliveryMode: amqp.Persistent,
		ContentType:  d.ContentType,
		MessageId:    d.MessageId,
		Body:         d.Body,
	})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := d.Ack(false); err != nil {
		return fmt.Errorf("acknowledge: %w", err)
	}
	if err := ch.TxCommit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// waitForItem returns the first delivery, or nil when the run turns out
// complete (nil error), or the error that ends the wait.
func waitForItem(ctx context.Context, conn *amqp.Connection, deliveries <-chan amqp.Delivery, closed <-chan *amqp.Error, sealOf func() (seal, error), deadline time.Time, opts WorkOptions) (*amqp.Delivery, error) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	// Most workers get an item at once; the ledger is read only by those
	// that wait.
	check := time.NewTimer(time.Second)
	defer check.Stop()
	ledgerCtx, stopLedger := context.WithCancel(ctx)
	defer stopLedger()
	var (
		s        seal
		ledger   *ledgerReader
		complete <-chan struct{}
		deadTick <-chan time.Time
	)
	for {
		select {
		case m, ok := <-deliveries:
			if !ok {
				return nil, workErr(BrokerError, "consumer on %s closed before an item arrived", opts.Queue)
			}
			return &m, nil
		case <-check.C:
			var err error
			if s, err = sealOf(); err != nil {
				return nil, err
			}
			l, err := readLedger(ledgerCtx, conn, opts.Queue, s.Count)
			if err != nil {
				return nil, workErr(BrokerError, "%w", err)
			}
			ledger, complete = l, l.complete
			t := time.NewTicker(2 * time.Second)
			defer t.Stop()
			deadTick = t.C
			opts.Logf("no item to take yet; reading the ledger of %d items", s.Count)
		case <-complete:
			opts.Logf("the run is complete: all %d items are done; nothing to take", s.Count)
			return nil, nil
		case <-deadTick:
			if err := ledger.Err(); err != nil {
				return nil, workErr(BrokerError, "read ledger: %w", err)
			}
			select {
			case <-ledger.caughtUp:
			default:
				continue
			}
			dead, err := readDead(conn, opts.Queue, 10)
			if err != nil {
				return nil, workErr(BrokerError, "%w", err)
			}
			if dead.Count > 0 && ledger.Count()+dead.Count >= s.Count {
				return nil, workErr(NoItem, "the run cannot complete: %d of %d items are done and %d were dead-lettered into %s after failing every allowed delivery: %s (jobwq status shows them, jobwq retry puts them back)",
					ledger.Count(), s.Count, dead.Count, opts.Queue+DeadSuffix, dead.describe())
			}
		case <-timer.C:
			done := "the ledger was not read"
			if ledger != nil {
				done = fmt.Sprintf("%d of %d items are done", ledger.Count(), s.Count)
			}
			return nil, workErr(NoItem, "no item arrived on %s within %v and the run is not complete (%s): the rest are held by workers that did not finish, or dead-lettered", opts.Queue, opts.Wait, done)
		case e := <-closed:
			return nil, workErr(BrokerError, "connection lost while waiting for an item: %v", e)
		case <-ctx.Done():
			return nil, workErr(Failed, "stopped while waiting for an item: %v", context.Cause(ctx))
		}
	}
}

// closeConnWithin closes conn and waits, at most d, for the broker's
// close-ok.
func closeConnWithin(conn *amqp.Connection, d time.Duration) error {
	if err := conn.CloseDeadline(time.Now().Add(d)); err != nil {
		return fmt.Errorf("close the connection: %w", err)
	}
	return nil
}

// consumerTag names a worker's one consumer.
const consumerTag = "jobwq-work"

type openResult struct {
	ch  *amqp.Channel
	err error
}

// openConsumer opens the channel that takes items, with a prefetch of one:
// this worker handles one item at a time.
func openConsumer(conn *amqp.Connection) openResult {
	ch, err := conn.Channel()
	if err != nil {
		return openResult{err: workErr(BrokerError, "open channel: %w", err)}
	}
	if err := ch.Qos(1, 0, false); err != nil {
		return openResult{ch: ch, err: workErr(BrokerError, "set prefetch: %w", err)}
	}
	return openResult{ch: ch}
}

// deliveryCount is how often a quorum queue delivered the message before.
func deliveryCount(d amqp.Delivery) int {
	switch n := d.Headers["x-delivery-count"].(type) {
	case int64:
		return int(n)
	case int32:
		return int(n)
	case int:
		return n
	}
	return 0
}

type connLost struct{ err error }

func (c *connLost) Error() string { return fmt.Sprintf("connection lost: %v", c.err) }

// run runs the command on one item; a lost broker connection stops it too
// (the item is already on its way to another worker).
func run(ctx context.Context, closed <-chan *amqp.Error, item []byte, opts WorkOptions) error {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case e := <-closed:
			cancel(&connLost{err: e})
		case <-runCtx.Done():
		}
	}()
	return itemcmd.Run(runCtx, item, itemcmd.Options{
		Argv: opts.Command, Env: opts.Env, Timeout: opts.Timeout, Grace: opts.Grace,
		Stdout: opts.Stdout, Stderr: opts.Stderr,
	})
}

// waitForSeal polls for Q.seal (workers may start before the seeder) and
// returns the channel it found it on, for the ledger's records.
func waitForSeal(ctx context.Context, conn *amqp.Connection, queue string, deadline time.Time, logf func(string, ...any)) (*amqp.Channel, error) {
	logged := false
	for {
		ch, err := conn.Channel()
		if err != nil {
			return nil, workErr(BrokerError, "open channel: %w", err)
		}
		// A missing queue closes the channel; a present one keeps it.
		st, err := ch.QueueDeclarePassive(queue+SealSuffix, true, false, false, false, nil)
		switch {
		case err == nil && st.Messages > 0:
			return ch, nil
		case err == nil:
			closeChannel(ch)
		case !isNotFound(err):
			return nil, workErr(BrokerError, "check seal of %s: %w", queue, err)
		}
		if time.Now().After(deadline) {
			return nil, workErr(NoItem, "queue %s was not seeded in time: %s never appeared", queue, queue+SealSuffix)
		}
		if !logged {
			logf("waiting for %s to be seeded", queue)
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, workErr(Failed, "stopped while waiting for %s to be seeded: %v", queue, context.Cause(ctx))
		case <-time.After(500 * time.Millisecond):
		}
	}
}
