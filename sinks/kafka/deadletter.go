package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

// DeadLetters writes messages that could not be consumed to the dead-letter topic
// (schemas.TopicDLQ unless told otherwise), each as a bounded schemas.DeadLetter: the first
// bytes of the original key and value (schemas.MaxDeadLetterKeyBytes, MaxDeadLetterValueBytes),
// their sizes and the value's SHA-256, where the message was (topic, partition, offset), why
// and at which stage it was refused (schemas.StageDecode, StageValidate or StageProcess; the
// reason cut to schemas.MaxDeadLetterReasonBytes), when, and by which consumer group. A letter
// encodes to at most schemas.MaxDeadLetterBytes (16 KiB) whatever the message was, so the
// broker's limit on a message (message.max.bytes, 1 MiB by default) never refuses one: a
// message of any size, a compressed one that is far larger decompressed included, can be
// dead-lettered and passed. Dead letters are keyed by DeadLetter.Key(), "topic|partition|offset"
// of the original record, so the same failure recorded twice (after a restart) has the same key.
//
// Safe for concurrent use; it shares the Writer it was given, which its owner closes.
type DeadLetters struct {
	w     *Writer
	topic string
	group string
	now   func() time.Time
}

// NewDeadLetters returns a dead-letter writer that writes through w to topic ("" means
// schemas.TopicDLQ) on behalf of consumer group group (recorded in each letter that does not name
// its own).
func NewDeadLetters(w *Writer, topic, group string) *DeadLetters {
	if topic == "" {
		topic = schemas.TopicDLQ
	}
	return &DeadLetters{w: w, topic: topic, group: group, now: time.Now}
}

// Topic returns the topic dead letters are written to.
func (d *DeadLetters) Topic() string { return d.topic }

// Send writes the letters and returns nil only once the broker acknowledged all of them. Each
// is bounded first (DeadLetter.Bounded: a letter without ValueSHA256 is taken to hold the whole
// record, which is cut to its first bytes, sizes and digest). Empty FailedAt becomes now (UTC)
// and empty ConsumerGroup the group given to NewDeadLetters. A letter that fails validation is
// an error and nothing is written. A consumer must not commit the
// offset of a refused message unless Send returned nil for it, or the message would vanish.
// Send does not keep the letters or their byte slices after it returns.
func (d *DeadLetters) Send(ctx context.Context, letters ...schemas.DeadLetter) error {
	msgs := make([]Message, len(letters))
	for i := range letters {
		dl := letters[i].Bounded()
		if dl.FailedAt.IsZero() {
			dl.FailedAt = d.now().UTC()
		}
		if dl.ConsumerGroup == "" {
			dl.ConsumerGroup = d.group
		}
		if dl.Schema == "" {
			dl.Schema = dl.SchemaName()
		}
		v, err := schemas.Encode(&dl)
		if err != nil {
			return fmt.Errorf("encode dead letter for %s: %w", dl.Key(), err)
		}
		msgs[i] = Message{Topic: d.topic, Key: []byte(dl.Key()), Value: v}
	}
	if err := d.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("send %d dead letters: %w", len(msgs), err)
	}
	return nil
}
