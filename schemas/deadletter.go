package schemas

import (
	"strconv"
	"time"
)

// Stages at which a record can fail (DeadLetter.Stage).
const (
	// StageDecode: the bytes are not a message (Decode failed on syntax,
	// types, unknown or missing fields, or an unknown schema).
	StageDecode = "decode"
	// StageValidate: the message decoded but breaks a validation rule.
	StageValidate = "validate"
	// StageProcess: the message is valid but the consumer could not use it
	// (e.g. it contradicts state); Reason says why.
	StageProcess = "process"
)

var stages = []string{StageDecode, StageValidate, StageProcess}

// DeadLetter records a Kafka record that a consumer could not use, with its
// original bytes, so that it never stops the pipeline and never vanishes.
// Published on TopicDLQ under the key "topic|partition|offset" of the
// original record (re-recording the same failure gives the same key).
//
// The Go field names differ from the JSON names where they would clash with
// the Message methods: OriginalTopic is "topic", OriginalKey is "key",
// OriginalValue is "value".
type DeadLetter struct {
	// Schema is SchemaDeadLetter ("hashatlas.dead-letter.v1"); Encode fills
	// it in.
	Schema string `json:"schema"`
	// OriginalTopic is the topic the record was read from (a Kafka topic
	// name: 1 to 249 characters of [a-zA-Z0-9._-]).
	OriginalTopic string `json:"topic"`
	// Partition is the partition the record was read from, >= 0.
	Partition int32 `json:"partition"`
	// Offset is the record's offset in that partition, >= 0.
	Offset int64 `json:"offset"`
	// OriginalKey is the record's key bytes, base64 (standard, padded) in
	// JSON; nil (JSON null) for a record without key, which is distinct from
	// an empty key ("").
	OriginalKey []byte `json:"key"`
	// OriginalValue is the record's value bytes, base64 in JSON; nil (null)
	// for a tombstone.
	OriginalValue []byte `json:"value"`
	// Reason is the error that made the record fail, one line (e.g. the
	// *DecodeError text); required. Invalid UTF-8 in it is replaced with
	// U+FFFD when encoded.
	Reason string `json:"reason"`
	// Stage is one of the Stage* constants.
	Stage string `json:"stage"`
	// FailedAt is when the failure was recorded, in UTC.
	FailedAt time.Time `json:"failed_at"`
	// ConsumerGroup is the consumer group that failed on the record; may be
	// empty when the reader was not in a group.
	ConsumerGroup string `json:"consumer_group"`
}

// SchemaName returns SchemaDeadLetter.
func (DeadLetter) SchemaName() string { return SchemaDeadLetter }

// Topic returns TopicDLQ.
func (DeadLetter) Topic() string { return TopicDLQ }

// Key returns "topic|partition|offset" of the original record.
func (d DeadLetter) Key() string {
	b := make([]byte, 0, len(d.OriginalTopic)+32)
	b = append(b, d.OriginalTopic...)
	b = append(b, '|')
	b = strconv.AppendInt(b, int64(d.Partition), 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, d.Offset, 10)
	return string(b)
}

// Validate checks the rules documented on the fields.
func (d DeadLetter) Validate() error {
	var fe fieldErrors
	fe.check("schema", checkSchemaField(d.Schema, SchemaDeadLetter))
	fe.check("topic", checkTopicName(d.OriginalTopic))
	if d.Partition < 0 {
		fe.add("partition", "must be >= 0, found "+strconv.FormatInt(int64(d.Partition), 10))
	}
	if d.Offset < 0 {
		fe.add("offset", "must be >= 0, found "+strconv.FormatInt(d.Offset, 10))
	}
	if d.Reason == "" {
		fe.add("reason", "is required")
	}
	fe.check("stage", checkEnum(d.Stage, stages))
	fe.check("failed_at", checkTime(d.FailedAt))
	if d.ConsumerGroup != "" {
		fe.check("consumer_group", checkNameChars(d.ConsumerGroup))
	}
	return fe.err()
}

// checkTopicName is Kafka's rule for topic names.
func checkTopicName(s string) string {
	if s == "" {
		return "is required"
	}
	if len(s) > 249 {
		return "must be at most 249 bytes (a Kafka topic name)"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != '-' {
			return "must be a Kafka topic name of [a-zA-Z0-9._-], found " + strconv.Quote(truncate(s))
		}
	}
	return ""
}

var deadLetterFields = fieldSet{
	names:    []string{"schema", "topic", "partition", "offset", "key", "value", "reason", "stage", "failed_at", "consumer_group"},
	required: requiredAll(10),
}

func (d *DeadLetter) fieldSet() *fieldSet { return &deadLetterFields }

func (d *DeadLetter) decodeField(r *reader, i int) (err error) {
	switch i {
	case 0: // read and checked by decodeObject
		d.Schema = SchemaDeadLetter
	case 1:
		d.OriginalTopic, err = r.str()
	case 2:
		d.Partition, err = r.int32()
	case 3:
		d.Offset, err = r.int64()
	case 4:
		d.OriginalKey, err = r.bytes()
	case 5:
		d.OriginalValue, err = r.bytes()
	case 6:
		d.Reason, err = r.str()
	case 7:
		d.Stage, err = r.enum(stages)
	case 8:
		d.FailedAt, err = r.time()
	case 9:
		d.ConsumerGroup, err = r.str()
	}
	return err
}

func (d *DeadLetter) appendJSON(buf []byte) []byte {
	// Fixed text about 220 bytes; base64 grows bytes by 4/3; escapes may
	// grow the reason (a second allocation in that rare case).
	buf = grow(buf, 256+len(d.OriginalTopic)+len(d.Reason)+len(d.ConsumerGroup)+(len(d.OriginalKey)+len(d.OriginalValue)+2)*4/3)
	buf = append(buf, `{"schema":"`+SchemaDeadLetter+`","topic":`...)
	buf = appendString(buf, d.OriginalTopic)
	buf = append(buf, `,"partition":`...)
	buf = strconv.AppendInt(buf, int64(d.Partition), 10)
	buf = append(buf, `,"offset":`...)
	buf = strconv.AppendInt(buf, d.Offset, 10)
	buf = append(buf, `,"key":`...)
	buf = appendBytes(buf, d.OriginalKey)
	buf = append(buf, `,"value":`...)
	buf = appendBytes(buf, d.OriginalValue)
	buf = append(buf, `,"reason":`...)
	buf = appendString(buf, d.Reason)
	buf = append(buf, `,"stage":`...)
	buf = appendString(buf, d.Stage)
	buf = append(buf, `,"failed_at":`...)
	buf = appendTime(buf, d.FailedAt)
	buf = append(buf, `,"consumer_group":`...)
	buf = appendString(buf, d.ConsumerGroup)
	return append(buf, '}')
}
