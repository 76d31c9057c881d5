package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"

	"github.com/jobwq/jobwq/internal/exitcode"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Outcome is how one worker run ended; each has its own exit code so the
// Job's podFailurePolicy can tell them apart.
type Outcome int

const (
	// Done: the command succeeded and the item is acknowledged.
	Done Outcome = exitcode.OK
	// Failed: the command failed or ran out of time (or the worker was
	// told to stop); the item went back to the queue, or to Q.dead after
	// its last allowed delivery.
	Failed Outcome = exitcode.Failed
	// NoItem: no item arrived within the wait, because the queue was never
	// sealed or holds nothing more to take.
	NoItem Outcome = exitcode.NoItem
	// BrokerError: the broker could not be reached or the connection was
	// lost; if an item was taken, the broker returns it to the queue.
	BrokerError Outcome = exitcode.Broker
)

// WorkOptions configure WorkOne.
type WorkOptions struct {
	Queue string
	// Wait bounds the wait for the seal and then for an item.
	Wait time.Duration
	// Timeout bounds the command's run on one item.
	Timeout time.Duration
	// Grace is how long a stopped command has between SIGTERM and SIGKILL.
	Grace   time.Duration
	Command []string
	Stdout  io.Writer
	Stderr  io.Writer
	Logf    func(format string, args ...any)
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

// WorkOne takes exactly one item from the queue and runs the command with
// the item on its standard input. The item is acknowledged only after the
// command exits 0; in every other case it is returned (or, after its last
// allowed delivery, dead-lettered). Cancelling ctx, as SIGTERM does, stops
// the command with SIGTERM and returns the item.
//
// A nil error means Done; otherwise the error is a *WorkError with the
// outcome.
func WorkOne(ctx context.Context, conn *amqp.Connection, opts WorkOptions) error {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Grace <= 0 {
		opts.Grace = 10 * time.Second
	}
	deadline := time.Now().Add(opts.Wait)
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))

	ch, err := waitForSeal(ctx, conn, opts.Queue, deadline, opts.Logf)
	if err != nil {
		return err
	}
	defer ch.Close()
	// One unacknowledged delivery at most: this worker handles one item.
	if err := ch.Qos(1, 0, false); err != nil {
		return workErr(BrokerError, "set prefetch: %w", err)
	}
	const tag = "jobwq-work"
	deliveries, err := ch.ConsumeWithContext(ctx, opts.Queue, tag, false, false, false, false, nil)
	if err != nil {
		return workErr(BrokerError, "consume from %s: %w", opts.Queue, err)
	}
	var d amqp.Delivery
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case m, ok := <-deliveries:
		if !ok {
			return workErr(BrokerError, "consumer on %s closed before an item arrived", opts.Queue)
		}
		d = m
	case <-timer.C:
		return workErr(NoItem, "no item arrived on %s within %v: the queue is drained, or its remaining items are held by other workers or dead-lettered", opts.Queue, opts.Wait)
	case e := <-closed:
		return workErr(BrokerError, "connection lost while waiting for an item: %v", e)
	case <-ctx.Done():
		return workErr(Failed, "stopped while waiting for an item: %v", context.Cause(ctx))
	}
	// Take no more: with prefetch 1 nothing else is in flight, and the
	// cancel makes that true for the rest of the run too. Not waiting for
	// cancel-ok saves a round trip; a failed cancel fails the ack below.
	if err := ch.Cancel(tag, true); err != nil {
		return workErr(BrokerError, "cancel consumer: %w", err)
	}

	attempt := deliveryCount(d) + 1
	opts.Logf("took an item from %s (delivery %d, %d bytes)", opts.Queue, attempt, len(d.Body))
	runErr := run(ctx, closed, d.Body, opts)

	var lost *connLost
	switch {
	case errors.As(runErr, &lost):
		return workErr(BrokerError, "connection lost while the command ran; the broker returns the item to the queue: %v", lost.err)
	case runErr == nil:
		if err := d.Ack(false); err != nil {
			return workErr(BrokerError, "acknowledge item: %w", err)
		}
		// Closing waits for the broker's close-ok, which comes after the
		// ack has been processed.
		if err := ch.Close(); err != nil {
			return workErr(BrokerError, "acknowledge item: %w", err)
		}
		return nil
	default:
		// Requeued, not rejected: a quorum queue counts the delivery and
		// dead-letters the item past x-delivery-limit; on a classic queue
		// the Job's backoffLimit is the bound.
		if err := d.Nack(false, true); err != nil {
			return workErr(BrokerError, "return item after failure (%v): %w", runErr, err)
		}
		if err := ch.Close(); err != nil {
			return workErr(BrokerError, "return item after failure (%v): %w", runErr, err)
		}
		return workErr(Failed, "%v; the item went back to %s (delivery %d)", runErr, opts.Queue, attempt)
	}
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

// run runs the command on one item. It stops the command early, with
// SIGTERM and then SIGKILL after the grace period, when the item's time is
// up, when ctx is cancelled, or when the broker connection is lost (the
// item is already on its way to another worker).
func run(ctx context.Context, closed <-chan *amqp.Error, item []byte, opts WorkOptions) error {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if opts.Timeout > 0 {
		var stop context.CancelFunc
		runCtx, stop = context.WithTimeoutCause(runCtx, opts.Timeout, fmt.Errorf("the command ran past its timeout of %v", opts.Timeout))
		defer stop()
	}
	go func() {
		select {
		case e := <-closed:
			cancel(&connLost{err: e})
		case <-runCtx.Done():
		}
	}()

	cmd := exec.CommandContext(runCtx, opts.Command[0], opts.Command[1:]...)
	cmd.Stdin = bytes.NewReader(item)
	cmd.Stdout = opts.Stdout
	cmd.Stderr = opts.Stderr
	// The command gets SIGTERM first, like a pod's containers, and its own
	// process group so a shell's children hear it too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = opts.Grace
	err := cmd.Run()
	if cause := context.Cause(runCtx); runCtx.Err() != nil && cause != nil {
		if cmd.Process != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		var lost *connLost
		if errors.As(cause, &lost) {
			return lost
		}
		return cause
	}
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return fmt.Errorf("command %q failed: %v", opts.Command[0], exitErr.ProcessState)
		}
		return fmt.Errorf("run %q: %w", opts.Command[0], err)
	}
	return nil
}

// waitForSeal polls for Q.seal (workers may start before the seeder) and
// returns the channel it found it on, for the consumer to use.
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
			ch.Close()
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
