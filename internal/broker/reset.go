package broker

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Reset deletes a queue and its companions, for starting a local run over.
// Queues that do not exist are skipped.
func Reset(conn *amqp.Connection, queue string) error {
	for _, name := range []string{queue, queue + SealSuffix, queue + DeadSuffix, queue + DoneSuffix} {
		ch, err := conn.Channel()
		if err != nil {
			return fmt.Errorf("open channel: %w", err)
		}
		if _, err := ch.QueueDelete(name, false, false, false); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete queue %s: %w", name, err)
		}
		closeChannel(ch)
	}
	return nil
}
