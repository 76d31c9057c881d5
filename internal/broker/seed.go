package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	defer ch.Close()
	if _, err := ch.QueueDeclare(q.Name+DeadSuffix, true, false, false, false, amqp.Table{"x-queue-type": "classic"}); err != nil {
		return SeedResult{}, fmt.Errorf("declare dead-letter queue %s: %w", q.Name+DeadSuffix, err)
	}
	if _, err := ch.QueueDeclare(q.Name, true, false, false, false, q.args()); err != nil {
		return SeedResult{}, fmt.Errorf("declare queue %s (durable %s): %w", q.Name, q.Type, err)
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
				ch.QueueDelete(name, false, false, false)
				ch.Close()
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
	defer ch.Close()
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
	d, ok, err := ch.Get(queue+SealSuffix, false)
	if err != nil || !ok {
		return seal{}, false, fmt.Errorf("read seal %s: %v", queue+SealSuffix, err)
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
			Body:         []byte(item),
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

func isNotFound(err error) bool {
	var amqpErr *amqp.Error
	return asAMQP(err, &amqpErr) && amqpErr.Code == amqp.NotFound
}

func asAMQP(err error, target **amqp.Error) bool { return errors.As(err, target) }
