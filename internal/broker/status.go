package broker

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// QueueStatus is what `jobwq status` shows of a run's queue.
type QueueStatus struct {
	Queue        string `json:"queue"`
	Exists       bool   `json:"exists"`
	Sealed       bool   `json:"sealed"`
	Digest       string `json:"digest,omitempty"`
	Items        int    `json:"items,omitempty"` // how many the seal says were seeded
	Ready        int    `json:"ready"`           // waiting in the queue (not held by a worker)
	Consumers    int    `json:"consumers"`
	DeadLettered int    `json:"deadLettered"`
	Seeding      bool   `json:"seeding"` // a seeder holds the lock right now
}

// Status inspects a queue and its companions without changing them.
func Status(conn *amqp.Connection, queue string) (QueueStatus, error) {
	st := QueueStatus{Queue: queue}
	if q, ok, err := passive(conn, queue); err != nil {
		return st, err
	} else if ok {
		st.Exists, st.Ready, st.Consumers = true, q.Messages, q.Consumers
	}
	if q, ok, err := passive(conn, queue+DeadSuffix); err != nil {
		return st, err
	} else if ok {
		st.DeadLettered = q.Messages
	}
	s, ok, err := readSeal(conn, queue)
	if err != nil {
		return st, err
	}
	if ok {
		st.Sealed, st.Digest, st.Items = true, s.Digest, s.Count
	}
	// An exclusive queue of another connection answers a passive declare
	// with RESOURCE_LOCKED.
	ch, err := conn.Channel()
	if err != nil {
		return st, fmt.Errorf("open channel: %w", err)
	}
	_, err = ch.QueueDeclarePassive(queue+LockSuffix, false, false, true, false, nil)
	var amqpErr *amqp.Error
	st.Seeding = err == nil || (asAMQP(err, &amqpErr) && amqpErr.Code == amqp.ResourceLocked)
	if err == nil {
		ch.Close()
	}
	return st, nil
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
	ch.Close()
	return q, true, nil
}
