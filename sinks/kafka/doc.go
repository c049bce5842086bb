// Package kafka is hashatlas' only door to Kafka: a keyed, batched, compressed writer that waits
// for every in-sync replica, a consumer-group reader that commits offsets only after a message
// was handled, topic administration, the dead-letter writer, and the embedded kfake broker used
// by tests and the local run.
//
// It is the only package of the project that imports segmentio/kafka-go (the client) and
// twmb/franz-go's kfake (the embedded broker); everything else speaks schemas.Message.
//
// A program uses it in this order:
//
//	cfg.RegisterFlags(fs)                 // flags, then cfg.Validate()
//	b, _ := StartEmbedded(port, log)      // only with --kafka.embedded; cfg.Brokers = {b.Addr()}
//	Ping(ctx, cfg)                        // fail fast, one line naming --kafka.brokers
//	EnsureTopics(ctx, cfg, schemas.Topics())
//	w, _ := NewWriter(cfg, log, reg)      // w.Publish(ctx, msgs...)
//	c, _ := NewConsumer(cfg, ConsumerConfig{Group: "estimator", Topics: ...}, log, reg)
//	c.Run(ctx, handle)                    // until ctx ends; commits what was handled
//
// Topics are never created implicitly: neither the embedded broker nor the writer auto-creates a
// topic, so a write to a topic that EnsureTopics did not create fails with "unknown topic or
// partition" instead of silently creating it with a broker-default partition count and config.
//
// Delivery is at-least-once end to end: a nil error from Publish means every in-sync replica
// has the messages (with Config.Acks "all", the default; on a cluster, topics replicated three
// times with min.insync.replicas 2 keep them through the loss of any one broker); a consumer commits an offset only after its handler returned nil or the
// record was safely dead-lettered; what was handled but not committed when a process stopped is
// delivered again. Keys make that harmless: consumers upsert by key.
//
// A dead letter is bounded whatever the record it records (schemas.NewDeadLetter): the first
// 1 KiB of the key and 4 KiB of the value, their sizes, the SHA-256 of the whole value, flags
// saying what was cut, and a reason of at most 1 KiB; it encodes to at most 16 KiB
// (schemas.MaxDeadLetterBytes). The broker's limit on a message (message.max.bytes, 1 MiB by
// default) therefore never refuses one, so a record as large as the broker admits, or a
// compressed one of any size decompressed, is dead-lettered and committed like any other
// (TestOversizedRecordsAreDeadLetteredBoundedAndTheConsumerGoesOn). Before, a letter carried
// the whole value in base64: a 920 KB value or a 10 MB zstd-compressed one made a letter the
// broker refused ("[10] Message Size Too Large"), and the consumer stopped at that record on
// every restart. Letters written before still decode (schemas.DeadLetter).
//
// # The embedded broker (kfake)
//
// kfake is an in-process Kafka implementation that speaks the wire protocol, so the same code
// and tests run against it and against Apache Kafka (HASHATLAS_TEST_KAFKA_BROKERS). Where it
// differs from Apache Kafka, as far as this package is concerned:
//
//   - It creates topics only when asked (AllowAutoTopicCreation is not set here); Kafka's
//     auto.create.topics.enable defaults to true, but this package's metadata requests never
//     ask for creation, so both behave the same.
//   - It accepts any topic config name at creation without checking it, where Kafka refuses
//     unknown ones; EnsureTopics sends only standard names (cleanup.policy, retention.ms,
//     min.insync.replicas).
//   - A new consumer group is formed at once; Kafka waits group.initial.rebalance.delay.ms
//     (3 s by default) for more members first.
//   - It keeps everything in memory (StartEmbeddedIn: also in a directory, so that it can be
//     restarted with its data). It compacts every log.cleaner.backoff.ms (an hour unless set)
//     and then everything but the last record batch of a partition, whatever segment.ms and
//     min.cleanable.dirty.ratio say; Kafka compacts only closed segments (segment.ms,
//     segment.bytes) whose dirty ratio passed min.cleanable.dirty.ratio, looking every
//     log.cleaner.backoff.ms (15 s; 500 ms in deploy/local/kafka). Both keep the last value of
//     every key (TestCompactionKeepsTheLastValueOfEveryKey).
//   - It accepts every codec (gzip, snappy, lz4, zstd) on every produce version.
//   - It serves a new topic at once; Kafka answers NOT_LEADER_OR_FOLLOWER until the partitions'
//     leadership is applied, so EnsureTopics waits for every partition to answer.
//   - DescribeConfigs returns 10 configs of a topic (Kafka about 30); both report those set at
//     creation as set on the topic (source DYNAMIC_TOPIC_CONFIG), which is what EnsureTopics
//     reads. Defaults differ where nothing here depends on them (segment.bytes 100 MiB, 1 GiB
//     on Kafka).
//   - It restarts in milliseconds; Kafka takes 3 to 10 s from stop to serving again, longer
//     than kafka-go's own retries (about 7 s for a write, 3 attempts for a read), so the Writer
//     and the TopicReader wait for brokers they cannot reach for up to Config.RetryTimeout.
//
// Behaviours the two share, and what this package does about them:
//
//   - After a restart the broker reloads a group with its members, but a kafka-go member that
//     failed to rejoin while the broker was down comes back under a new member id, and the
//     group waits for the old id's session to time out (ConsumerConfig.SessionTimeout) before
//     it assigns partitions again.
//   - A kafka-go group Reader rejoins on a rebalance without waiting for its caller, so
//     records it had fetched or handled but not committed were handled again by the
//     partitions' next owners; Consumer therefore drives the group itself and commits before
//     it lets a generation end (TestMembersJoiningAndLeavingMidStreamHandleEveryRecordExactlyOnce).
//   - kafka-go reports a ListOffsets request that failed on its connection as error code -1
//     (Unknown) for the partitions it asked about, which Retryable-style checks must treat as
//     an outage (worthWaiting).
package kafka
