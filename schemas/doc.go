// Package schemas is the single source of truth for every Kafka message of
// hashatlas: the Go types, their schema names and versions, the topics they
// travel on and how those topics are created, the validation rules, and the
// JSON codec. It uses the standard library only, so every other package can
// import it.
//
// # Messages
//
// Each message type (Block, DifficultyEpoch, PoolStats, GridObservation,
// Estimate, DeadLetter) implements Message: it names its schema, its topic,
// its Kafka key (derived from its content, so that re-publishing the same
// fact lands on the same key and compaction keeps only its newest version)
// and validates itself. Field documentation states each field's unit and
// rules. Conventions on the wire:
//
//   - JSON members are snake_case, written in struct order, "schema" first.
//   - Times are RFC 3339 strings in UTC ("2024-04-20T00:09:27Z"), with
//     fractional seconds only when present; Decode rejects other offsets and
//     returns times in time.UTC. In Go a time.Time in any location is valid:
//     it is an instant, and Encode and Key write it in UTC. Every time must
//     lie between the genesis block (GenesisTime, 2009-01-03T18:15:05Z) and
//     FutureAllowance (a week) past the validating clock; an estimate's
//     window may end up to a year later. Heights and counts must fit UInt32
//     (MaxHeight, MaxCount). So every message Validate accepts can be stored
//     in the ClickHouse columns and computed by the model: a rule that is
//     looser than storage would let one message stop the estimator.
//   - Hashrates are float64 hashes per second (H/s). Block work is the
//     decimal string of an exact integer (2^256/(target+1)) because it does
//     not fit 64 bits; see WorkFromBits.
//   - Optional members are documented as such; they are omitted (pointer
//     fields, and a dead letter's sizes, digest and truncation flags when
//     zero) or empty (strings), never absent by accident: every other
//     member must be present when decoding.
//
// # Codec
//
// Encode validates a message and writes its JSON; Decode reads the
// "schema" member, decodes the rest strictly (unknown, duplicate and missing
// members are errors, and so are values of the wrong type and null where a
// value is required) and validates the result. Errors name the field at
// fault by its JSON path: a *FieldError from Validate ("field
// coinbase_addresses[2]: must be 1 to 128 ASCII letters and digits"), a
// *DecodeError from Decode ("decode hashatlas.block.v1: field height: must
// be an integer, found 1.5").
//
// The codec is hand-written rather than built on encoding/json reflection
// because decoding sits on the replay hot path (it is about five times
// faster than a strict encoding/json decode; see BenchmarkDecode). Its output
// is byte-for-byte what json.Marshal writes for the same struct (with Schema
// set, and an empty list written as [] rather than null), and whatever Decode
// accepts, encoding/json reads to the same value; the tests and FuzzDecode
// check both. Consumers outside Go can rely on plain JSON.
//
// # Versioning
//
// A schema name ends in its version ("hashatlas.block.v1") and every topic
// name ends in the version of the schema it carries ("hashatlas.blocks.v1").
// A breaking change makes a new schema name version AND a new topic (.v2),
// written beside the old one until every consumer has moved; a topic never
// carries two versions of a schema. Breaking means anything an existing
// consumer would reject or misread: removing, renaming or retyping a field,
// changing a unit or the meaning of a value, making a rule stricter, or
// changing a key format. Because decoding is strict, even adding a field or
// an enumeration value breaks consumers built before it; such an additive
// change may stay within a version only if every consumer is deployed with
// it before any producer writes it. ClickHouse migrations follow the same
// schemas (the tables and their natural keys mirror these types).
//
// # Dead letters
//
// A DeadLetter is bounded whatever the record it records: it keeps the first
// MaxDeadLetterKeyBytes (1 KiB) of the key and MaxDeadLetterValueBytes
// (4 KiB) of the value, their sizes (key_size, value_size), the SHA-256 of
// the whole value (value_sha256), key_truncated and value_truncated when it
// cut them, and a reason of at most MaxDeadLetterReasonBytes (1 KiB, cut
// with "…"), so that it encodes to at most MaxDeadLetterBytes (16 KiB): a
// record as large as the broker admits, or a compressed one of any size,
// still fits the dead-letter topic. Build one with NewDeadLetter (or
// Bounded). The members were added within hashatlas.dead-letter.v1: letters
// written before, without them (whole key and value), still decode, and
// value_sha256 tells the two forms apart. Nothing in hashatlas decodes the
// dead-letter topic; an outside reader that decodes strictly needs the new
// members, one that reads plain JSON sees only more of them.
//
// # Topics
//
// Topics lists every topic with its partition count, cleanup policy,
// retention and schema: sinks/kafka creates topics from it and the deploy/
// manifests are checked against it. Keyed input topics and the estimates
// are compacted (the latest message per key is kept forever); the
// dead-letter topic is a delete topic kept for 30 days.
package schemas
