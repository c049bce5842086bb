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
// has the messages; a consumer commits an offset only after its handler returned nil or the
// record was safely dead-lettered; what was handled but not committed when a process stopped is
// delivered again. Keys make that harmless: consumers upsert by key.
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
//   - It keeps everything in memory and compacts only every log.cleaner.backoff.ms (an hour).
//   - It accepts every codec (gzip, snappy, lz4, zstd) on every produce version.
package kafka
