package schemas

import (
	"strconv"
	"time"
)

// Kafka topic names. Each topic carries one schema (see Topics); its key is
// built by that schema's Key method from the message content, so that a
// re-published message lands on the same key and compaction keeps only its
// newest version.
const (
	// TopicBlocks carries Block messages, keyed by height in decimal
	// ("840000"). A reorg re-publishes the height under the same key.
	TopicBlocks = "hashatlas.blocks.v1"
	// TopicDifficulty carries DifficultyEpoch messages, keyed by the
	// epoch's start height in decimal ("838656").
	TopicDifficulty = "hashatlas.difficulty.v1"
	// TopicPoolStats carries PoolStats messages, keyed by
	// "pool|source|interval_seconds|time" ("foundryusa|mempool|86400|2024-04-20T00:00:00Z").
	// Keying by pool alone would let compaction keep only a pool's newest
	// observation; the estimator rebuilds its state from the compacted
	// topic and needs every one. A corrected observation (same pool, source,
	// interval and time) replaces the earlier one.
	TopicPoolStats = "hashatlas.pool-stats.v1"
	// TopicGrid carries GridObservation messages, keyed by
	// "region|metric|source|interval_seconds|time" ("ERCO|demand|eia|3600|2024-04-20T00:00:00Z"),
	// for the same reason as TopicPoolStats: every observation survives
	// compaction, a correction replaces its original.
	TopicGrid = "hashatlas.grid.v1"
	// TopicEstimates carries Estimate messages, keyed by
	// "metric|window|window_start|entity|method|model_version". A recomputed
	// window replaces the earlier result; results of another model version
	// or method are kept beside it.
	TopicEstimates = "hashatlas.estimates.v1"
	// TopicDLQ carries DeadLetter records of messages that could not be
	// decoded, validated or processed, keyed by "topic|partition|offset" of
	// the original record.
	TopicDLQ = "hashatlas.dlq.v1"
)

// TopicSpec declares how a topic must be created. sinks/kafka creates topics
// from Topics(), and the deploy/ manifests are checked against it. The
// replication factor is not part of the spec: it belongs to the deployment
// (1 on a laptop, 3 in production).
type TopicSpec struct {
	// Name is the topic name, one of the Topic* constants.
	Name string
	// Partitions is the partition count. It must never change once the
	// topic exists: the key → partition mapping, and with it compaction and
	// per-key ordering, depends on it.
	Partitions int
	// Compacted selects cleanup.policy=compact (keep the newest record of
	// every key forever) instead of cleanup.policy=delete (drop records older
	// than Retention).
	Compacted bool
	// Retention is retention.ms: a positive duration drops records older than
	// that (for delete topics); -1 keeps records forever (set on compacted
	// topics so that no broker default can expire them); 0 leaves the broker
	// default.
	Retention time.Duration
	// Schema is the schema name of every message on the topic ("" for none).
	Schema string
	// Doc describes the topic and its key in one sentence.
	Doc string
}

// RetentionForever is the Retention value that keeps records forever
// (retention.ms=-1).
const RetentionForever time.Duration = -1

// DLQRetention is how long dead letters are kept: long enough for someone
// to notice, fix the cause and re-drive them.
const DLQRetention = 30 * 24 * time.Hour

// Topics returns the spec of every topic, in a stable order (inputs in data
// flow order, then outputs, then the dead-letter topic). The keyed input
// topics and the estimates are compacted; the dead-letter topic is a delete
// topic kept DLQRetention. The caller owns the returned slice.
func Topics() []TopicSpec {
	return []TopicSpec{
		{
			Name: TopicBlocks, Partitions: 6, Compacted: true, Retention: RetentionForever,
			Schema: SchemaBlock,
			Doc:    "Every block of the best chain with its pool attribution, keyed by height.",
		},
		{
			// One partition: about 14 messages a year, read whole by every
			// consumer, and it keeps epochs in order.
			Name: TopicDifficulty, Partitions: 1, Compacted: true, Retention: RetentionForever,
			Schema: SchemaDifficultyEpoch,
			Doc:    "One message per difficulty epoch (2016 blocks), keyed by start height.",
		},
		{
			Name: TopicPoolStats, Partitions: 6, Compacted: true, Retention: RetentionForever,
			Schema: SchemaPoolStats,
			Doc:    "Pool-reported hashrate and block counts per interval, keyed by pool|source|interval_seconds|time.",
		},
		{
			Name: TopicGrid, Partitions: 6, Compacted: true, Retention: RetentionForever,
			Schema: SchemaGridObservation,
			Doc:    "Grid-operator observations (demand, generation, price, emergencies) per region and interval, keyed by region|metric|source|interval_seconds|time.",
		},
		{
			Name: TopicEstimates, Partitions: 6, Compacted: true, Retention: RetentionForever,
			Schema: SchemaEstimate,
			Doc:    "Estimates with 95 % intervals per metric, window and entity, keyed by metric|window|window_start|entity|method|model_version.",
		},
		{
			// One partition: failures are rare and are read in the order they
			// happened.
			Name: TopicDLQ, Partitions: 1, Compacted: false, Retention: DLQRetention,
			Schema: SchemaDeadLetter,
			Doc:    "Records that could not be decoded, validated or processed, with the original bytes and the reason, keyed by topic|partition|offset.",
		},
	}
}

// Configs returns the topic-level configuration entries that make a topic
// match its spec: cleanup.policy always, retention.ms unless Retention is 0.
func (t TopicSpec) Configs() map[string]string {
	c := map[string]string{"cleanup.policy": "delete"}
	if t.Compacted {
		c["cleanup.policy"] = "compact"
	}
	switch {
	case t.Retention < 0:
		c["retention.ms"] = "-1"
	case t.Retention > 0:
		c["retention.ms"] = strconv.FormatInt(t.Retention.Milliseconds(), 10)
	}
	return c
}
