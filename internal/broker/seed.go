package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jobwq/jobwq/internal/items"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Queue is a run's queue as the spec describes it.
type Queue struct {
	Name string
	// Type is "quorum" or "classic". Only quorum queues count deliveries,
	// so only they bound the retries of an item that keeps failing.
	Type          string
	DeliveryLimit int
	// GroupSize spreads a quorum queue's replicas over that many broker
	// nodes (x-quorum-initial-group-size); 0 leaves it to the broker (all
	// nodes up to its default).
	GroupSize int
}

// Validate says what is wrong with q before anything is sent to a broker:
// the broker's own refusals close the connection and read like a broker
// error, which a Job would retry.
func (q Queue) Validate() error {
	if err := ValidateName(q.Name); err != nil {
		return err
	}
	if q.Type != "quorum" && q.Type != "classic" {
		return &UsageError{Err: fmt.Errorf("queue type %q: want quorum or classic", q.Type)}
	}
	if q.DeliveryLimit < 1 {
		return &UsageError{Err: fmt.Errorf("delivery limit %d: want at least 1", q.DeliveryLimit)}
	}
	if q.GroupSize < 0 {
		return &UsageError{Err: fmt.Errorf("quorum group size %d: want 0 (the broker's default) or more", q.GroupSize)}
	}
	return nil
}

// MaxNameBytes leaves room in AMQP's 255-byte names for the longest
// companion suffix.
const MaxNameBytes = 250

// ValidateName checks a run's queue name as the broker will, and leaves
// room for its companions.
func ValidateName(name string) error {
	switch {
	case name == "":
		return &UsageError{Err: errors.New("no queue name")}
	case len(name) > MaxNameBytes:
		return &UsageError{Err: fmt.Errorf("queue name is %d bytes, at most %d are allowed (jobwq adds %s, %s, %s and %s companions)", len(name), MaxNameBytes, SealSuffix, DeadSuffix, LockSuffix, DoneSuffix)}
	case strings.HasPrefix(name, "amq."):
		return &UsageError{Err: fmt.Errorf("queue name %q starts with amq., which the broker reserves", name)}
	}
	return nil
}

// args are the queue's declaration arguments. Redeclaring with different
// ones fails, which is how a changed queue type is caught.
func (q Queue) args() amqp.Table {
	t := amqp.Table{
		"x-queue-type":              q.Type,
		"x-dead-letter-exchange":    "",
		"x-dead-letter-routing-key": q.Name + DeadSuffix,
	}
	if q.Type == "quorum" {
		t["x-delivery-limit"] = int64(q.DeliveryLimit)
		if q.GroupSize > 0 {
			t["x-quorum-initial-group-size"] = int64(q.GroupSize)
		}
	}
	return t
}

// seal is the one message in Q.seal: which items Q was seeded with.
type seal struct {
	Digest string `json:"digest"`
	Count  int    `json:"count"`
}

// SeedOptions configure Seed.
type SeedOptions struct {
	Queue Queue
	Items *items.Source
	// Window is how many publishings may await their confirm at once.
	Window int
	// LockWait bounds the wait for another seeder of the same queue.
	LockWait time.Duration
	// Progress, if set, is called as confirms arrive.
	Progress func(confirmed, total int)
	Logf     func(format string, args ...any)
}

// DefaultWindow keeps the broker busy without holding much in flight; the
// measured rate is flat from about 1,000 outstanding confirms up.
const DefaultWindow = 2048

// SeedResult says what Seed did.
type SeedResult struct {
	Published     int
	AlreadySealed bool // an earlier run seeded the same items: nothing was published
}

// RefusedError is returned when the queue was sealed with other items.
type RefusedError struct {
	Queue              string
	HaveDigest, Digest string
	HaveCount, Count   int
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("queue %s was already seeded with a different item set (%d items, %s); this run has %d items (%s): "+
		"use another queue name or delete the queue and its %s companion first",
		e.Queue, e.HaveCount, e.HaveDigest, e.Count, e.Digest, SealSuffix)
}

// BlockedError is returned when the broker stops accepting publishes
// because of a memory or disk alarm.
type BlockedError struct{ Reason string }

func (e *BlockedError) Error() string {
	return fmt.Sprintf("the broker blocked publishing (%s): it has raised a memory or disk alarm", e.Reason)
}

// Seed loads the items into the queue exactly once:
//
//   - one seeder at a time holds Q.lock, an exclusive queue that the broker
//     deletes when that seeder's connection ends, however it ends;
//   - a sealed queue is left alone if it holds these items, and refused if
//     it holds others;
//   - otherwise whatever an interrupted earlier attempt left in Q is purged
//     (no worker consumes before the seal), every item is published
//     persistent and mandatory with a window of outstanding confirms, the
//     depth is checked, and the seal is written last.
//
// A seeder killed at any point and run again therefore leaves each item in
// Q exactly once.
func Seed(ctx context.Context, conn *amqp.Connection, opts SeedOptions) (SeedResult, error) {
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	q := opts.Queue
	unlock, err := lock(ctx, conn, q.Name, opts.LockWait, opts.Logf)
	if err != nil {
		return SeedResult{}, err
	}
	defer unlock()
	if s, ok, err := readSeal(conn, q.Name); err != nil {
		return SeedResult{}, err
	} else if ok {
		if s.Digest != opts.Items.Digest {
			return SeedResult{}, &RefusedError{Queue: q.Name, HaveDigest: s.Digest, HaveCount: s.Count, Digest: opts.Items.Digest, Count: opts.Items.Count}
		}
		return SeedResult{AlreadySealed: true}, nil
	}

	ch, err := conn.Channel()
	if err != nil {
		return SeedResult{}, fmt.Errorf("open channel: %w", err)
	}
	defer closeChannel(ch)
	if _, err := ch.QueueDeclare(q.Name+DeadSuffix, true, false, false, false, amqp.Table{"x-queue-type": "classic"}); err != nil {
		return SeedResult{}, fmt.Errorf("declare dead-letter queue %s: %w", q.Name+DeadSuffix, err)
	}
	if _, err := ch.QueueDeclare(q.Name, true, false, false, false, q.args()); err != nil {
		return SeedResult{}, declareError(q, err)
	}
	if err := declareLedger(ch, q.Name); err != nil {
		return SeedResult{}, err
	}
	purged, err := ch.QueuePurge(q.Name, false)
	if err != nil {
		return SeedResult{}, fmt.Errorf("purge queue %s: %w", q.Name, err)
	}
	if purged > 0 {
		opts.Logf("queue %s held %d items from an interrupted seeding; purged them to start over", q.Name, purged)
	}
	if err := publishAll(ctx, conn, ch, opts); err != nil {
		return SeedResult{}, err
	}
	st, err := ch.QueueDeclarePassive(q.Name, true, false, false, false, q.args())
	if err != nil {
		return SeedResult{}, fmt.Errorf("check depth of %s: %w", q.Name, err)
	}
	if st.Messages != opts.Items.Count {
		return SeedResult{}, fmt.Errorf("queue %s holds %d messages after %d confirmed publishes: something else publishes to it or consumes from it", q.Name, st.Messages, opts.Items.Count)
	}
	if err := writeSeal(ctx, ch, q.Name, seal{Digest: opts.Items.Digest, Count: opts.Items.Count}); err != nil {
		return SeedResult{}, err
	}
	return SeedResult{Published: opts.Items.Count}, nil
}

// lock takes Q.lock, waiting while another seeder holds it, and returns
// its release. A killed seeder's lock goes when the broker notices its
// connection is gone (a missed heartbeat or two).
func lock(ctx context.Context, conn *amqp.Connection, queue string, wait time.Duration, logf func(string, ...any)) (func(), error) {
	if wait <= 0 {
		wait = 2 * time.Minute
	}
	name := queue + LockSuffix
	deadline := time.Now().Add(wait)
	for {
		ch, err := conn.Channel()
		if err != nil {
			return nil, fmt.Errorf("open channel: %w", err)
		}
		_, err = ch.QueueDeclare(name, false, false, true, false, nil)
		if err == nil {
			return func() {
				// Bounded: a blocked connection answers nothing, and the
				// lock goes with the connection anyway.
				done := make(chan struct{})
				go func() {
					ch.QueueDelete(name, false, false, false)
					close(done)
				}()
				select {
				case <-done:
				case <-time.After(time.Second):
				}
				closeChannel(ch)
			}, nil
		}
		var amqpErr *amqp.Error
		if !errors.As(err, &amqpErr) || amqpErr.Code != amqp.ResourceLocked {
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("another seeder has held %s for %v; giving up", name, wait)
		}
		logf("another seeder holds %s; waiting", name)
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(time.Second):
		}
	}
}

// readSeal returns Q's seal, if it has one. Reading takes the message and
// puts it back.
func readSeal(conn *amqp.Connection, queue string) (seal, bool, error) {
	ch, err := conn.Channel()
	if err != nil {
		return seal{}, false, fmt.Errorf("open channel: %w", err)
	}
	defer closeChannel(ch)
	st, err := ch.QueueDeclarePassive(queue+SealSuffix, true, false, false, false, nil)
	if isNotFound(err) {
		return seal{}, false, nil
	}
	if err != nil {
		return seal{}, false, fmt.Errorf("check seal %s: %w", queue+SealSuffix, err)
	}
	if st.Messages == 0 {
		return seal{}, false, nil
	}
	// Readers take the one message and put it back, so another reader
	// (a worker, jobwq status) may hold it for a moment: try again.
	var d amqp.Delivery
	for attempt := 0; ; attempt++ {
		var ok bool
		d, ok, err = ch.Get(queue+SealSuffix, false)
		if err != nil {
			return seal{}, false, fmt.Errorf("read seal %s: %w", queue+SealSuffix, err)
		}
		if ok {
			break
		}
		if attempt == 100 {
			return seal{}, false, fmt.Errorf("read seal %s: it stayed held by other readers for 10s", queue+SealSuffix)
		}
		time.Sleep(time.Duration(50+rand.IntN(100)) * time.Millisecond)
	}
	defer d.Nack(false, true)
	var s seal
	if err := json.Unmarshal(d.Body, &s); err != nil {
		return seal{}, false, fmt.Errorf("read seal %s: %w", queue+SealSuffix, err)
	}
	return s, true, nil
}

func writeSeal(ctx context.Context, ch *amqp.Channel, queue string, s seal) error {
	name := queue + SealSuffix
	if _, err := ch.QueueDeclare(name, true, false, false, false, amqp.Table{"x-queue-type": "classic"}); err != nil {
		return fmt.Errorf("declare seal %s: %w", name, err)
	}
	body, _ := json.Marshal(s)
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", name, true, false, amqp.Publishing{
		DeliveryMode: amqp.Persistent,
		ContentType:  "application/json",
		Body:         body,
	})
	if err != nil {
		return fmt.Errorf("write seal %s: %w", name, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil || !ok {
		return fmt.Errorf("write seal %s: not confirmed (%v)", name, err)
	}
	return nil
}

// publishAll publishes every item, keeping at most opts.Window awaiting
// their confirm. Any nack, return, connection block or close fails it.
func publishAll(ctx context.Context, conn *amqp.Connection, ch *amqp.Channel, opts SeedOptions) error {
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	// NotifyPublish needs room for every outstanding confirm; the other
	// channels are read in the same select so none can block the library.
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, opts.Window))
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 1))
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))

	total := opts.Items.Count
	sent, confirmed := 0, 0
	wait := func() error {
		select {
		case c, ok := <-confirms:
			if !ok {
				return fmt.Errorf("channel closed with %d publishes unconfirmed", sent-confirmed)
			}
			if !c.Ack {
				return fmt.Errorf("the broker refused item %d (nack)", c.DeliveryTag)
			}
			confirmed++
			if opts.Progress != nil && (confirmed%1024 == 0 || confirmed == total) {
				opts.Progress(confirmed, total)
			}
			return nil
		case r := <-returns:
			return fmt.Errorf("the broker returned an item (%d %s): queue %s is gone", r.ReplyCode, r.ReplyText, opts.Queue.Name)
		case b := <-blocked:
			if b.Active {
				return &BlockedError{Reason: b.Reason}
			}
			return nil
		case e := <-closed:
			return fmt.Errorf("connection lost after %d of %d confirms: %v", confirmed, total, e)
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	publish := func(item string) error {
		for sent-confirmed >= opts.Window {
			if err := wait(); err != nil {
				return err
			}
		}
		err := ch.PublishWithContext(ctx, "", opts.Queue.Name, true, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent,
			ContentType:  "text/plain; charset=utf-8",
			// The item's index: the ledger's name for it.
			MessageId: itemID(sent),
			Body:      []byte(item),
		})
		if err != nil {
			// A publish fails only when the channel or the connection is
			// gone; say so plainly, with what the network said.
			return fmt.Errorf("connection lost while publishing item %d of %d: %w", sent+1, total, err)
		}
		sent++
		return nil
	}
	for item, err := range opts.Items.All() {
		if err == nil {
			err = publish(item)
		}
		if err != nil {
			return err
		}
	}
	if sent != total {
		return fmt.Errorf("read %d items, expected %d: the items changed while seeding", sent, total)
	}
	for confirmed < sent {
		if err := wait(); err != nil {
			return err
		}
	}
	return nil
}

// declareError explains a refused declaration: a queue of that name that
// exists with other settings is the usual cause.
func declareError(q Queue, err error) error {
	var amqpErr *amqp.Error
	if errors.As(err, &amqpErr) && amqpErr.Code == amqp.PreconditionFailed {
		return &UsageError{Err: fmt.Errorf("queue %s already exists with other settings than this run's (a durable %s queue, delivery limit %d, dead-lettering into %s): "+
			"delete it, or choose another spec.queue.name (the broker said: %s)", q.Name, q.Type, q.DeliveryLimit, q.Name+DeadSuffix, amqpErr.Reason)}
	}
	return fmt.Errorf("declare queue %s (durable %s): %w", q.Name, q.Type, err)
}

// A UsageError is a problem with how jobwq was asked to run, which
// retrying cannot fix (exit status 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func isNotFound(err error) bool {
	var amqpErr *amqp.Error
	return asAMQP(err, &amqpErr) && amqpErr.Code == amqp.NotFound
}

func asAMQP(err error, target **amqp.Error) bool { return errors.As(err, target) }
