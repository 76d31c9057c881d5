package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// The ledger is Q.done, a stream with one message per item a worker
// finished: its message id is the item's index in the seeded set (the
// seeder numbers every item), and a worker writes it, with a publisher
// confirm, before it acknowledges the item.
//
// It answers what AMQP cannot: whether a run is complete. A queue's depth
// counts only the items ready to take, not those held by a worker, so an
// empty queue may still be waiting for an item to come back. The ledger
// counts every item that succeeded, exactly: an index is in it at least
// once if its item succeeded and never otherwise, and a worker killed
// between writing it and acknowledging the item writes it twice, which
// counting distinct indexes absorbs. A stream can be read from its start
// by any number of workers without consuming it.
const DoneSuffix = ".done"

// doneArgs declare the ledger. Streams exist since RabbitMQ 3.9.
var doneArgs = amqp.Table{"x-queue-type": "stream"}

// itemID is the ledger's name for the item at index i of the seeded set.
func itemID(i int) string { return strconv.Itoa(i) }

// declareLedger makes sure Q.done exists.
func declareLedger(ch *amqp.Channel, queue string) error {
	if _, err := ch.QueueDeclare(queue+DoneSuffix, true, false, false, false, doneArgs); err != nil {
		return fmt.Errorf("declare ledger %s (a stream, RabbitMQ 3.9 or later): %w", queue+DoneSuffix, err)
	}
	return nil
}

// recordDone writes item id into the ledger and waits for the broker to
// confirm it. ch must be in confirm mode.
func recordDone(ctx context.Context, ch *amqp.Channel, queue, id string) error {
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue+DoneSuffix, true, false, amqp.Publishing{
		DeliveryMode: amqp.Persistent,
		MessageId:    id,
	})
	if err != nil {
		return fmt.Errorf("record item %s as done: %w", id, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("record item %s as done: %w", id, err)
	}
	if !ok {
		return fmt.Errorf("record item %s as done: the broker refused it (nack)", id)
	}
	return nil
}

// A ledgerReader follows Q.done from its start and counts the distinct
// items in it, out of total.
type ledgerReader struct {
	total int

	mu       sync.Mutex
	seen     []uint64 // a bit per item index
	count    int
	foreign  int           // messages without a valid index: another set's, or not jobwq's
	complete chan struct{} // closed once count == total
	caughtUp chan struct{} // closed once the stream has been read to its end once
	err      error
	done     chan struct{} // closed when reading stops
}

// readLedger starts following queue's ledger on its own channel until ctx
// ends.
func readLedger(ctx context.Context, conn *amqp.Connection, queue string, total int) (*ledgerReader, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	// A stream consumer must have a prefetch; a large one reads fast.
	if err := ch.Qos(2000, 0, false); err != nil {
		ch.Close()
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	// Not ConsumeWithContext: its cancel would race the close in follow,
	// and a method on a closing channel costs the whole connection.
	deliveries, err := ch.Consume(queue+DoneSuffix, "", false, false, false, false, amqp.Table{"x-stream-offset": "first"})
	if err != nil {
		ch.Close()
		return nil, fmt.Errorf("read ledger %s: %w", queue+DoneSuffix, err)
	}
	l := &ledgerReader{
		total:    total,
		seen:     make([]uint64, (total+63)/64),
		complete: make(chan struct{}),
		caughtUp: make(chan struct{}),
		done:     make(chan struct{}),
	}
	if total == 0 {
		close(l.complete)
	}
	go l.follow(ctx, ch, deliveries)
	return l, nil
}

// idle is how long the stream stays quiet before the reader counts itself
// caught up with what was written so far.
const idle = 300 * time.Millisecond

func (l *ledgerReader) follow(ctx context.Context, ch *amqp.Channel, deliveries <-chan amqp.Delivery) {
	defer close(l.done)
	defer closeChannel(ch)
	quiet := time.NewTimer(idle)
	defer quiet.Stop()
	caughtUp := false
	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				l.fail(errors.New("the ledger's consumer was closed"))
				return
			}
			l.add(d.MessageId)
			// Acks keep credit flowing; they remove nothing from a stream.
			d.Ack(false)
			if !quiet.Stop() {
				select {
				case <-quiet.C:
				default:
				}
			}
			quiet.Reset(idle)
		case <-quiet.C:
			if !caughtUp {
				caughtUp = true
				close(l.caughtUp)
			}
		case <-ctx.Done():
			return
		}
	}
}

func (l *ledgerReader) add(id string) {
	i, err := strconv.Atoi(id)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil || i < 0 || i >= l.total {
		l.foreign++
		return
	}
	word, bit := i/64, uint64(1)<<(i%64)
	if l.seen[word]&bit != 0 {
		return
	}
	l.seen[word] |= bit
	l.count++
	if l.count == l.total {
		close(l.complete)
	}
}

func (l *ledgerReader) fail(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
}

// Count is how many distinct items the ledger holds so far.
func (l *ledgerReader) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

// Has reports whether item index i is in the ledger so far.
func (l *ledgerReader) Has(i int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return i >= 0 && i < l.total && l.seen[i/64]&(1<<(i%64)) != 0
}

// Err is why reading stopped early, if it did.
func (l *ledgerReader) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// closeChannel closes ch without waiting forever: a broker that stopped
// reading this connection (an alarm, a half-dead peer) never answers, and
// nothing jobwq does may hang on it. The connection's close ends it then.
func closeChannel(ch *amqp.Channel) {
	done := make(chan struct{})
	go func() {
		ch.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
}

// CloseConn closes conn, waiting at most a second for the broker.
func CloseConn(conn *amqp.Connection) {
	if err := conn.CloseDeadline(time.Now().Add(time.Second)); err != nil && !errors.Is(err, amqp.ErrClosed) {
		// The broker did not answer in time; the socket is closed anyway.
		return
	}
}
