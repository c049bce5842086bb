package kafka

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// registerCounterVec registers a counter vector on reg and returns it; when an identical one is
// already registered (a second Writer on the same registry) it returns that one, so the counts
// add up. A nil reg gives an unregistered vector that still counts.
func registerCounterVec(reg prometheus.Registerer, opts prometheus.CounterOpts, labels ...string) (*prometheus.CounterVec, error) {
	v := prometheus.NewCounterVec(opts, labels)
	if reg == nil {
		return v, nil
	}
	if err := reg.Register(v); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, err
	}
	return v, nil
}

// writerMetrics are the writer's counters, labelled by topic.
type writerMetrics struct {
	messages *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	errors   *prometheus.CounterVec
}

func newWriterMetrics(reg prometheus.Registerer) (*writerMetrics, error) {
	var m writerMetrics
	var err error
	if m.messages, err = registerCounterVec(reg, prometheus.CounterOpts{
		Namespace: "hashatlas", Subsystem: "kafka", Name: "written_messages_total",
		Help: "Messages written to Kafka and acknowledged by all in-sync replicas.",
	}, "topic"); err != nil {
		return nil, err
	}
	if m.bytes, err = registerCounterVec(reg, prometheus.CounterOpts{
		Namespace: "hashatlas", Subsystem: "kafka", Name: "written_bytes_total",
		Help: "Uncompressed key and value bytes of the messages counted by hashatlas_kafka_written_messages_total.",
	}, "topic"); err != nil {
		return nil, err
	}
	if m.errors, err = registerCounterVec(reg, prometheus.CounterOpts{
		Namespace: "hashatlas", Subsystem: "kafka", Name: "write_errors_total",
		Help: "Messages whose write to Kafka failed (after the client's own retries).",
	}, "topic"); err != nil {
		return nil, err
	}
	return &m, nil
}

// consumerMetrics are the consumer's counters, labelled by topic (and stage for dead letters).
type consumerMetrics struct {
	handled     *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	retries     *prometheus.CounterVec
	commits     *prometheus.CounterVec
}

func newConsumerMetrics(reg prometheus.Registerer) (*consumerMetrics, error) {
	var m consumerMetrics
	var err error
	if m.handled, err = registerCounterVec(reg, prometheus.CounterOpts{
		Namespace: "hashatlas", Subsystem: "kafka", Name: "consumed_messages_total",
		Help: "Messages the consumer's handler processed successfully.",
	}, "group", "topic"); err != nil {
		return nil, err
	}
	if m.deadLetters, err = registerCounterVec(reg, prometheus.CounterOpts{
		Namespace: "hashatlas", Subsystem: "kafka", Name: "dead_letters_total",
		Help: "Consumed messages sent to the dead-letter topic, by the stage that refused them.",
	}, "group", "topic", "stage"); err != nil {
		return nil, err
	}
	if m.retries, err = registerCounterVec(reg, prometheus.CounterOpts{
		Namespace: "hashatlas", Subsystem: "kafka", Name: "handler_retries_total",
		Help: "Handler calls that failed with a retryable error and were retried.",
	}, "group", "topic"); err != nil {
		return nil, err
	}
	if m.commits, err = registerCounterVec(reg, prometheus.CounterOpts{
		Namespace: "hashatlas", Subsystem: "kafka", Name: "offset_commits_total",
		Help: "Offset commits of the consumer group, by result (ok or error).",
	}, "group", "result"); err != nil {
		return nil, err
	}
	return &m, nil
}
