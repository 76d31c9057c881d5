package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/jobwq/jobwq/internal/itemcmd"
)

// QueueStatus is what `jobwq status` shows of a run's queue.
type QueueStatus struct {
	Queue   string `json:"queue"`
	Exists  bool   `json:"exists"`
	Sealed  bool   `json:"sealed"`
	Seeding bool   `json:"seeding"` // a seeder (or jobwq retry) holds the lock right now
	Digest  string `json:"digest,omitempty"`
	// Total is how many items the seal says were seeded.
	Total int `json:"total"`
	// Done is how many of them the ledger holds: finished and
	// acknowledged (or about to be).
	Done int `json:"done"`
	// Ready are waiting in the queue.
	Ready int `json:"ready"`
	// InFlight are held by workers right now: neither ready, done nor dead.
	InFlight int `json:"inFlight"`
	// Dead were dead-lettered after their last allowed delivery.
	Dead      int      `json:"dead"`
	DeadItems []string `json:"deadItems,omitempty"` // the first few, by content
	Consumers int      `json:"consumers"`
}

// Complete reports whether every seeded item is done.
func (s QueueStatus) Complete() bool { return s.Sealed && s.Done == s.Total }

// maxDeadShown bounds the dead items a status lists.
const maxDeadShown = 20

// Status inspects a queue and its companions without changing them.
func Status(ctx context.Context, conn *amqp.Connection, queue string) (QueueStatus, error) {
	st := QueueStatus{Queue: queue}
	if q, ok, err := passive(conn, queue); err != nil {
		return st, err
	} else if ok {
		st.Exists, st.Ready, st.Consumers = true, q.Messages, q.Consumers
	}
	dead, err := readDead(conn, queue, maxDeadShown)
	if err != nil {
		return st, err
	}
	st.Dead, st.DeadItems = dead.Count, dead.Items
	s, ok, err := readSeal(conn, queue)
	if err != nil {
		return st, err
	}
	if ok {
		st.Sealed, st.Digest, st.Total = true, s.Digest, s.Count
		n, err := countLedger(ctx, conn, queue, s.Count)
		if err != nil {
			return st, err
		}
		st.Done = n
		st.InFlight = max(st.Total-st.Done-st.Ready-st.Dead, 0)
	}
	// An exclusive queue of another connection answers a passive declare
	// with RESOURCE_LOCKED.
	ch, err := conn.Channel()
	if err != nil {
		return st, fmt.Errorf("open channel: %w", err)
	}
	_, err = ch.QueueDeclarePassive(queue+LockSuffix, false, false, true, false, nil)
	var amqpErr *amqp.Error
	st.Seeding = err == nil || (errors.As(err, &amqpErr) && amqpErr.Code == amqp.ResourceLocked)
	if err == nil {
		closeChannel(ch)
	}
	return st, nil
}

// countLedger reads the ledger to its current end and counts the distinct
// items done.
func countLedger(ctx context.Context, conn *amqp.Connection, queue string, total int) (int, error) {
	if _, ok, err := passive(conn, queue+DoneSuffix); err != nil || !ok {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l, err := readLedger(ctx, conn, queue, total)
	if err != nil {
		return 0, err
	}
	select {
	case <-l.caughtUp:
	case <-l.complete:
	case <-ctx.Done():
		return 0, context.Cause(ctx)
	}
	return l.Count(), l.Err()
}

// deadItems are what Q.dead holds.
type deadItems struct {
	Count int
	Items []string // the first few, by content
}

func (d deadItems) describe() string {
	var b strings.Builder
	for i, it := range d.Items {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(itemcmd.Describe([]byte(it)))
	}
	if more := d.Count - len(d.Items); more > 0 {
		fmt.Fprintf(&b, " and %d more", more)
	}
	return b.String()
}

// readDead counts Q.dead and reads up to max of its items without taking
// them: they are fetched unacknowledged and go back when the channel
// closes (Q.dead is a classic queue, which counts no deliveries).
func readDead(conn *amqp.Connection, queue string, max int) (deadItems, error) {
	var out deadItems
	q, ok, err := passive(conn, queue+DeadSuffix)
	if err != nil || !ok || q.Messages == 0 {
		return out, err
	}
	out.Count = q.Messages
	ch, err := conn.Channel()
	if err != nil {
		return out, fmt.Errorf("open channel: %w", err)
	}
	defer closeChannel(ch)
	for range min(max, q.Messages) {
		d, ok, err := ch.Get(queue+DeadSuffix, false)
		if err != nil {
			return out, fmt.Errorf("read %s: %w", queue+DeadSuffix, err)
		}
		if !ok {
			break
		}
		out.Items = append(out.Items, string(d.Body))
	}
	return out, nil
}

func passive(conn *amqp.Connection, name string) (amqp.Queue, bool, error) {
	ch, err := conn.Channel()
	if err != nil {
		return amqp.Queue{}, false, fmt.Errorf("open channel: %w", err)
	}
	q, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
	if isNotFound(err) {
		return q, false, nil
	}
	if err != nil {
		return q, false, fmt.Errorf("inspect queue %s: %w", name, err)
	}
	closeChannel(ch)
	return q, true, nil
}

// Retry moves every item of Q.dead back into Q, exactly once: each batch
// of moves (publish into Q, acknowledge out of Q.dead) is one AMQP
// transaction, which the broker discards whole if the connection ends
// before the commit. Killed at any point and run again, it loses and
// doubles nothing. It holds Q.lock, so no seeder or other retry works on
// the queue meanwhile. The copies start with no deliveries counted.
func Retry(ctx context.Context, conn *amqp.Connection, q Queue, logf func(string, ...any)) (int, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	unlock, err := lock(ctx, conn, q.Name, 0, logf)
	if err != nil {
		return 0, err
	}
	defer unlock()
	if _, sealed, err := readSeal(conn, q.Name); err != nil {
		return 0, err
	} else if !sealed {
		return 0, &UsageError{Err: fmt.Errorf("queue %s is not sealed: nothing was seeded, so nothing can be retried", q.Name)}
	}
	ch, err := conn.Channel()
	if err != nil {
		return 0, fmt.Errorf("open channel: %w", err)
	}
	defer closeChannel(ch)
	if err := ch.Tx(); err != nil {
		return 0, fmt.Errorf("start a transaction: %w", err)
	}
	const batch = 256
	moved := 0
	for {
		n := 0
		for ; n < batch; n++ {
			d, ok, err := ch.Get(q.Name+DeadSuffix, false)
			if isNotFound(err) {
				return moved, nil
			}
			if err != nil {
				return moved, fmt.Errorf("read %s: %w", q.Name+DeadSuffix, err)
			}
			if !ok {
				break
			}
			err = ch.PublishWithContext(ctx, "", q.Name, false, false, amqp.Publishing{
				DeliveryMode: amqp.Persistent,
				ContentType:  d.ContentType,
				MessageId:    d.MessageId,
				Body:         d.Body,
			})
			if err != nil {
				return moved, fmt.Errorf("put item %s back into %s: %w", itemcmd.Describe(d.Body), q.Name, err)
			}
			if err := d.Ack(false); err != nil {
				return moved, fmt.Errorf("take item %s out of %s: %w", itemcmd.Describe(d.Body), q.Name+DeadSuffix, err)
			}
		}
		if n == 0 {
			return moved, nil
		}
		if err := ch.TxCommit(); err != nil {
			return moved, fmt.Errorf("commit %d moves: %w", n, err)
		}
		moved += n
		logf("moved %d items from %s back into %s", moved, q.Name+DeadSuffix, q.Name)
		if ctx.Err() != nil {
			return moved, context.Cause(ctx)
		}
	}
}
