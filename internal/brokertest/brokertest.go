// Package brokertest gives tests the real RabbitMQ they run against: its
// URL, a dial that says what to start when it fails, a fresh queue per test
// with its companions deleted afterwards, a lock that keeps tests from
// running while another one restarts the broker, and a TCP proxy that can
// cut connections for real.
package brokertest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// URL is the broker the tests use: $AMQP_URL, or RabbitMQ on loopback
// with its stock account.
func URL() string {
	if u := os.Getenv("AMQP_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// Dial connects to the test broker, failing the test with what to start.
func Dial(t testing.TB) *amqp.Connection {
	t.Helper()
	var conn *amqp.Connection
	var err error
	// A broker that another test restarted may need a few seconds.
	for i := 0; i < 30; i++ {
		conn, err = amqp.Dial(URL())
		if err == nil {
			t.Cleanup(func() { conn.Close() })
			return conn
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("RabbitMQ is not reachable at %s: %v\nstart it with `rabbitmq-server -detached` (or point AMQP_URL at one)", URL(), err)
	return nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// Queue returns a queue name no other test uses, and deletes the queue and
// its companions when the test ends.
func Queue(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := fmt.Sprintf("jobwq-test-%s-%s", strings.ToLower(unsafeChars.ReplaceAllString(t.Name(), "-")), hex.EncodeToString(b))
	if len(name) > 200 {
		name = name[len(name)-200:]
	}
	t.Cleanup(func() { Delete(name) })
	return name
}

// Delete removes a queue and its companions, ignoring ones that are gone.
func Delete(queue string) {
	conn, err := amqp.Dial(URL())
	if err != nil {
		return
	}
	defer conn.Close()
	// The suffixes are broker's (SealSuffix, DeadSuffix, LockSuffix,
	// DoneSuffix); broker's own tests use this package, so it cannot
	// import them.
	for _, n := range []string{queue, queue + ".seal", queue + ".dead", queue + ".lock", queue + ".done"} {
		ch, err := conn.Channel()
		if err != nil {
			return
		}
		ch.QueueDelete(n, false, false, false)
		ch.Close()
	}
}

// Depth returns a queue's ready messages and consumers.
func Depth(t testing.TB, conn *amqp.Connection, queue string) (ready, consumers int) {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatalf("inspect %s: %v", queue, err)
	}
	return q.Messages, q.Consumers
}

// lockPath is shared by every test process on the machine.
var lockPath = filepath.Join(os.TempDir(), "jobwq-rabbitmq-tests.lock")

// Shared holds the broker lock in shared mode for the test: any number of
// tests use the broker at once, but not while one restarts it.
func Shared(t testing.TB) { lockFor(t, syscall.LOCK_SH) }

// Exclusive holds the broker lock alone, for a test that restarts the
// broker.
func Exclusive(t testing.TB) { lockFor(t, syscall.LOCK_EX) }

func lockFor(t testing.TB, how int) {
	t.Helper()
	unlock, err := Lock(how)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
}

// Lock takes the broker lock (syscall.LOCK_SH or LOCK_EX) and returns its
// release.
func Lock(how int) (func(), error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("broker test lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("broker test lock: %w", err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// RestartApp stops and starts the RabbitMQ application (queues and
// messages survive as a real restart leaves them) and waits until it
// accepts connections again.
func RestartApp(t testing.TB) {
	t.Helper()
	for _, cmd := range []string{"stop_app", "start_app", "await_startup"} {
		rabbitmqctl(t, cmd)
	}
}

// MemoryAlarm raises RabbitMQ's memory alarm, which blocks every
// publishing connection, until the test ends. Hold Exclusive first.
func MemoryAlarm(t testing.TB) {
	t.Helper()
	rabbitmqctl(t, "set_vm_memory_high_watermark", "0.000001")
	t.Cleanup(func() { rabbitmqctl(t, "set_vm_memory_high_watermark", "0.4") })
}

func rabbitmqctl(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", append([]string{"-q"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
