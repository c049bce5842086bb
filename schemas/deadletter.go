package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
	"unicode/utf8"
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

// Bounds of a dead letter. A record refused by a consumer can be as large as the broker admits
// (and a compressed one far larger once decompressed), so a dead letter keeps only the start of
// its key and value and records the rest as sizes and a digest; whatever the record, its dead
// letter encodes to at most MaxDeadLetterBytes, far below Kafka's default limit of 1 MiB
// (message.max.bytes, 1048588).
const (
	// MaxDeadLetterKeyBytes is the most bytes of the original key a dead letter keeps: the
	// first ones.
	MaxDeadLetterKeyBytes = 1 << 10
	// MaxDeadLetterValueBytes is the most bytes of the original value a dead letter keeps: the
	// first ones.
	MaxDeadLetterValueBytes = 4 << 10
	// MaxDeadLetterReasonBytes is the longest reason a dead letter carries, in bytes of UTF-8;
	// a longer one is cut at a character boundary and ends in "…".
	MaxDeadLetterReasonBytes = 1 << 10
	// MaxDeadLetterBytes bounds the JSON of a dead letter in the bounded form (one with
	// ValueSHA256): its key and value in base64, its reason and consumer group escaped with
	// every character at its longest (TestDeadLetterWorstCaseEncodesUnderTheBound).
	MaxDeadLetterBytes = 16 << 10
)

// DeadLetter records a Kafka record that a consumer could not use, with the
// start of its bytes, their sizes and the value's SHA-256, so that it never
// stops the pipeline and never vanishes. Published on TopicDLQ under the key
// "topic|partition|offset" of the original record (re-recording the same
// failure gives the same key).
//
// A dead letter is bounded (NewDeadLetter, Bounded): it keeps at most the
// first MaxDeadLetterKeyBytes of the key and MaxDeadLetterValueBytes of the
// value, and a reason of at most MaxDeadLetterReasonBytes, so that it encodes
// to at most MaxDeadLetterBytes whatever the record was. Letters written
// before hashatlas bounded them (without value_sha256: the whole key and
// value, the reason as it was) still decode; KeySize, ValueSize, ValueSHA256
// and the two flags are then zero, and nothing is bounded.
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
	// OriginalKey is the record's key bytes, or the first
	// MaxDeadLetterKeyBytes of them (KeyTruncated), base64 (standard, padded)
	// in JSON; nil (JSON null) for a record without key, which is distinct
	// from an empty key ("").
	OriginalKey []byte `json:"key"`
	// KeySize is the size of the record's key in bytes, >= len(OriginalKey);
	// omitted when 0. Only in a bounded letter (one with ValueSHA256).
	KeySize int64 `json:"key_size,omitempty"`
	// KeyTruncated is true when OriginalKey holds only the first
	// MaxDeadLetterKeyBytes of the key (KeySize > len(OriginalKey)); omitted
	// when false.
	KeyTruncated bool `json:"key_truncated,omitempty"`
	// OriginalValue is the record's value bytes, or the first
	// MaxDeadLetterValueBytes of them (ValueTruncated), base64 in JSON; nil
	// (null) for a tombstone.
	OriginalValue []byte `json:"value"`
	// ValueSize is the size of the record's value in bytes (0 for a
	// tombstone), >= len(OriginalValue); omitted when 0. Only in a bounded
	// letter.
	ValueSize int64 `json:"value_size,omitempty"`
	// ValueSHA256 is the SHA-256 of the record's whole value (of no bytes for
	// a tombstone), 64 lower-case hex characters. It marks a bounded letter;
	// empty (omitted) only in a letter written before dead letters were
	// bounded. When the value is whole it must be the digest of
	// OriginalValue.
	ValueSHA256 string `json:"value_sha256,omitempty"`
	// ValueTruncated is true when OriginalValue holds only the first
	// MaxDeadLetterValueBytes of the value (ValueSize > len(OriginalValue));
	// omitted when false.
	ValueTruncated bool `json:"value_truncated,omitempty"`
	// Reason is the error that made the record fail, one line (e.g. the
	// *DecodeError text); required. In a bounded letter it is valid UTF-8 of
	// at most MaxDeadLetterReasonBytes (Bounded cuts a longer one, ending it
	// in "…", and replaces each invalid byte with U+FFFD). In an old letter
	// invalid UTF-8 is replaced with U+FFFD when encoded.
	Reason string `json:"reason"`
	// Stage is one of the Stage* constants.
	Stage string `json:"stage"`
	// FailedAt is when the failure was recorded, in UTC.
	FailedAt time.Time `json:"failed_at"`
	// ConsumerGroup is the consumer group that failed on the record; may be
	// empty when the reader was not in a group.
	ConsumerGroup string `json:"consumer_group"`
}

// NewDeadLetter returns the bounded dead letter of the record at
// topic/partition/offset with key and value, refused at stage for reason:
// DeadLetter{...}.Bounded(). FailedAt and ConsumerGroup are left to the
// caller. The letter's key and value share the memory of key and value.
func NewDeadLetter(topic string, partition int32, offset int64, key, value []byte, stage, reason string) DeadLetter {
	return DeadLetter{
		OriginalTopic: topic, Partition: partition, Offset: offset,
		OriginalKey: key, OriginalValue: value, Reason: reason, Stage: stage,
	}.Bounded()
}

// Bounded returns d in the bounded form. A letter without ValueSHA256 is
// taken to hold the record's whole key and value: it gets their sizes and
// the value's SHA-256, and keeps only the first MaxDeadLetterKeyBytes of the
// key and MaxDeadLetterValueBytes of the value (sub-slices of d's, not
// copies). A letter with ValueSHA256 keeps its key and value as they are.
// In both, invalid UTF-8 in the reason becomes U+FFFD (as Encode writes it)
// and a reason longer than MaxDeadLetterReasonBytes is cut at a character
// boundary and ends in "…". Bounded of a bounded letter returns it unchanged.
func (d DeadLetter) Bounded() DeadLetter {
	if d.ValueSHA256 == "" {
		sum := sha256.Sum256(d.OriginalValue)
		d.ValueSHA256 = hex.EncodeToString(sum[:])
		d.KeySize, d.ValueSize = int64(len(d.OriginalKey)), int64(len(d.OriginalValue))
		d.OriginalKey, d.KeyTruncated = cutBytes(d.OriginalKey, MaxDeadLetterKeyBytes)
		d.OriginalValue, d.ValueTruncated = cutBytes(d.OriginalValue, MaxDeadLetterValueBytes)
	}
	d.Reason = cutReason(d.Reason)
	return d
}

// cutBytes returns the first max bytes of b (capacity limited to them) and
// whether it cut anything.
func cutBytes(b []byte, max int) ([]byte, bool) {
	if len(b) <= max {
		return b, false
	}
	return b[:max:max], true
}

// cutReason returns s as valid UTF-8 (each invalid byte replaced with
// U+FFFD, as encoding/json writes it) of at most MaxDeadLetterReasonBytes:
// a longer one is cut at a character boundary and ends in "…".
func cutReason(s string) string {
	if len(s) <= MaxDeadLetterReasonBytes && utf8.ValidString(s) {
		return s
	}
	if !utf8.ValidString(s) {
		v := make([]byte, 0, len(s)+8)
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			v = utf8.AppendRune(v, r) // U+FFFD for an invalid byte
			i += size
		}
		s = string(v)
	}
	if len(s) <= MaxDeadLetterReasonBytes {
		return s
	}
	const ellipsis = "…"
	i := MaxDeadLetterReasonBytes - len(ellipsis)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + ellipsis
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
	if d.ValueSHA256 == "" {
		// A letter from before dead letters were bounded: nothing else to check.
		for _, f := range [...]struct {
			name string
			set  bool
		}{{"key_size", d.KeySize != 0}, {"key_truncated", d.KeyTruncated}, {"value_size", d.ValueSize != 0}, {"value_truncated", d.ValueTruncated}} {
			if f.set {
				fe.add(f.name, "is only recorded with value_sha256")
			}
		}
	} else {
		shaOK := len(d.ValueSHA256) == 64 && isLowerHex(d.ValueSHA256)
		if !shaOK {
			fe.add("value_sha256", "must be 64 lower-case hex characters, found "+strconv.Quote(truncate(d.ValueSHA256)))
		}
		fe.check("key", checkKept("key", len(d.OriginalKey), d.KeySize, d.KeyTruncated, MaxDeadLetterKeyBytes))
		reason := checkKept("value", len(d.OriginalValue), d.ValueSize, d.ValueTruncated, MaxDeadLetterValueBytes)
		fe.check("value", reason)
		if reason == "" && !d.ValueTruncated && shaOK {
			sum := sha256.Sum256(d.OriginalValue)
			if hex.EncodeToString(sum[:]) != d.ValueSHA256 {
				fe.add("value_sha256", "must be the SHA-256 of the whole value, which is not truncated")
			}
		}
		switch {
		case len(d.Reason) > MaxDeadLetterReasonBytes:
			fe.add("reason", "must be at most "+strconv.Itoa(MaxDeadLetterReasonBytes)+" bytes in a letter with value_sha256, found "+strconv.Itoa(len(d.Reason)))
		case !utf8.ValidString(d.Reason):
			fe.add("reason", "must be valid UTF-8 in a letter with value_sha256")
		}
	}
	fe.check("stage", checkEnum(d.Stage, stages))
	fe.check("failed_at", checkTime(d.FailedAt))
	if d.ConsumerGroup != "" {
		fe.check("consumer_group", checkNameChars(d.ConsumerGroup))
	}
	return fe.err()
}

// checkKept checks what a bounded letter kept of a key or value of size bytes: all of it (n ==
// size, not truncated) or its first max bytes (n == max < size, truncated).
func checkKept(what string, n int, size int64, truncated bool, max int) string {
	switch {
	case size < 0:
		return "has a negative " + what + "_size " + strconv.FormatInt(size, 10)
	case truncated && (n != max || size <= int64(max)):
		return "must hold the first " + strconv.Itoa(max) + " bytes of a " + what + " larger than that when " + what + "_truncated is true, found " +
			strconv.Itoa(n) + " bytes of " + what + "_size " + strconv.FormatInt(size, 10)
	case !truncated && int64(n) != size:
		return "must hold all " + what + "_size " + strconv.FormatInt(size, 10) + " bytes unless " + what + "_truncated is true, found " + strconv.Itoa(n)
	case n > max:
		return "must be at most " + strconv.Itoa(max) + " bytes (the first ones, with " + what + "_truncated), found " + strconv.Itoa(n)
	}
	return ""
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
	names: []string{"schema", "topic", "partition", "offset", "key", "key_size", "key_truncated", "value", "value_size",
		"value_sha256", "value_truncated", "reason", "stage", "failed_at", "consumer_group"},
	// The sizes, digest and flags are absent from letters written before dead letters were
	// bounded, and omitted when zero.
	required: requiredAll(15, 5, 6, 8, 9, 10),
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
		d.KeySize, err = r.int64()
	case 6:
		d.KeyTruncated, err = r.bool()
	case 7:
		d.OriginalValue, err = r.bytes()
	case 8:
		d.ValueSize, err = r.int64()
	case 9:
		d.ValueSHA256, err = r.str()
	case 10:
		d.ValueTruncated, err = r.bool()
	case 11:
		d.Reason, err = r.str()
	case 12:
		d.Stage, err = r.enum(stages)
	case 13:
		d.FailedAt, err = r.time()
	case 14:
		d.ConsumerGroup, err = r.str()
	}
	return err
}

func (d *DeadLetter) appendJSON(buf []byte) []byte {
	// Fixed text about 330 bytes; base64 grows bytes by 4/3; escapes may
	// grow the reason (a second allocation in that rare case).
	buf = grow(buf, 384+len(d.OriginalTopic)+len(d.Reason)+len(d.ConsumerGroup)+(len(d.OriginalKey)+len(d.OriginalValue)+2)*4/3)
	buf = append(buf, `{"schema":"`+SchemaDeadLetter+`","topic":`...)
	buf = appendString(buf, d.OriginalTopic)
	buf = append(buf, `,"partition":`...)
	buf = strconv.AppendInt(buf, int64(d.Partition), 10)
	buf = append(buf, `,"offset":`...)
	buf = strconv.AppendInt(buf, d.Offset, 10)
	buf = append(buf, `,"key":`...)
	buf = appendBytes(buf, d.OriginalKey)
	if d.KeySize != 0 {
		buf = append(buf, `,"key_size":`...)
		buf = strconv.AppendInt(buf, d.KeySize, 10)
	}
	if d.KeyTruncated {
		buf = append(buf, `,"key_truncated":true`...)
	}
	buf = append(buf, `,"value":`...)
	buf = appendBytes(buf, d.OriginalValue)
	if d.ValueSize != 0 {
		buf = append(buf, `,"value_size":`...)
		buf = strconv.AppendInt(buf, d.ValueSize, 10)
	}
	if d.ValueSHA256 != "" {
		buf = append(buf, `,"value_sha256":`...)
		buf = appendVerbatim(buf, d.ValueSHA256) // lower-case hex (Validate)
	}
	if d.ValueTruncated {
		buf = append(buf, `,"value_truncated":true`...)
	}
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
