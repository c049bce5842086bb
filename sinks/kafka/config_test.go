package kafka

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

func TestConfigValidate(t *testing.T) {
	valid := DefaultConfig()
	for _, c := range []struct {
		name    string
		mutate  func(*Config)
		wantErr string // "" for valid; otherwise a substring of the error
	}{
		{"the defaults are valid", func(*Config) {}, ""},
		{"several brokers are valid", func(c *Config) { c.Brokers = []string{"kafka-0.kafka:9092", "10.0.0.7:19092", "[::1]:9092"} }, ""},
		{"a host without port is rejected", func(c *Config) { c.Brokers = []string{"localhost"} }, `"localhost" is not host:port`},
		{"port 0 is rejected", func(c *Config) { c.Brokers = []string{"host:0"} }, `port "0", want 1 to 65535`},
		{"port 99999 is rejected", func(c *Config) { c.Brokers = []string{"host:99999"} }, `port "99999", want 1 to 65535`},
		{"a non-numeric port is rejected", func(c *Config) { c.Brokers = []string{"host:kafka"} }, `port "kafka"`},
		{"an empty address is rejected", func(c *Config) { c.Brokers = []string{""} }, "empty broker address"},
		{"no broker is rejected", func(c *Config) { c.Brokers = nil }, "give at least one broker"},
		{"a missing host is rejected", func(c *Config) { c.Brokers = []string{":9092"} }, "has no host"},
		{"one bad broker among good ones is rejected", func(c *Config) { c.Brokers = []string{"a:1", "b"} }, `"b" is not host:port`},
		{"brokers are not checked with the embedded broker", func(c *Config) { c.Embedded = true; c.Brokers = nil }, ""},
		{"an unknown compression is rejected", func(c *Config) { c.Compression = "brotli" }, "--kafka.compression"},
		{"every known compression is accepted", func(c *Config) { c.Compression = "lz4" }, ""},
		{"a negative batch timeout is rejected", func(c *Config) { c.BatchTimeout = -time.Second }, "--kafka.batch-timeout"},
		{"an out-of-range embedded port is rejected", func(c *Config) { c.EmbeddedPort = 70000 }, "--kafka.embedded-port"},
		{"a negative replication factor is rejected", func(c *Config) { c.ReplicationFactor = -1 }, "--kafka.replication-factor"},
		{"a negative retry timeout is rejected", func(c *Config) { c.RetryTimeout = -time.Second }, "--kafka.retry-timeout"},
		{"acks 1 is accepted", func(c *Config) { c.Acks = "1" }, ""},
		{"acks -1 is accepted (all, as the Java producer spells it)", func(c *Config) { c.Acks = "-1" }, ""},
		{"acks 0 is rejected: the writer must know whether a write failed", func(c *Config) { c.Acks = "0" }, "HASHATLAS_KAFKA_ACKS"},
		{"an unknown acks is rejected", func(c *Config) { c.Acks = "leader" }, "--kafka.acks"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := valid
			cfg.Brokers = append([]string(nil), valid.Brokers...)
			c.mutate(&cfg)
			err := cfg.Validate()
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want an error saying %q", c.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.wantErr) {
				t.Errorf("error %q does not say %q", msg, c.wantErr)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q is not one line", msg)
			}
			if strings.Contains(c.name, "broker") || strings.Contains(c.name, "host") || strings.Contains(c.name, "port 0") || strings.Contains(c.name, "port 9") || strings.Contains(c.name, "address") {
				if !strings.Contains(msg, "--kafka.brokers") || !strings.Contains(msg, "HASHATLAS_KAFKA_BROKERS") {
					t.Errorf("error %q does not name --kafka.brokers and HASHATLAS_KAFKA_BROKERS", msg)
				}
			}
		})
	}
}

func TestRegisterFlagsSetsDefaultsAndParsesBrokerLists(t *testing.T) {
	var cfg Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults from flags do not validate: %v", err)
	}
	want := DefaultConfig()
	if strings.Join(cfg.Brokers, ",") != DefaultBrokers || cfg.EmbeddedPort != want.EmbeddedPort || cfg.Compression != want.Compression ||
		cfg.BatchSize != want.BatchSize || cfg.BatchTimeout != want.BatchTimeout || cfg.ReplicationFactor != 1 || cfg.ClientID != "hashatlas" || cfg.RetryTimeout != time.Minute ||
		cfg.Acks != "all" {
		t.Errorf("flag defaults %+v, want %+v", cfg, want)
	}
	if got := fs.Lookup("kafka.brokers").DefValue; got != DefaultBrokers {
		t.Errorf("--kafka.brokers default shows %q, want %q", got, DefaultBrokers)
	}
	for _, name := range []string{"kafka.brokers", "kafka.embedded", "kafka.embedded-port", "kafka.client-id", "kafka.batch-size",
		"kafka.batch-timeout", "kafka.compression", "kafka.dial-timeout", "kafka.replication-factor", "kafka.retry-timeout", "kafka.acks"} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag --%s is not registered", name)
		}
	}
	err := fs.Parse([]string{"--kafka.brokers= a:9092, b:9093 ,", "--kafka.embedded", "--kafka.compression=zstd", "--kafka.batch-timeout=5ms"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Brokers, ",") != "a:9092,b:9093" || !cfg.Embedded || cfg.Compression != "zstd" || cfg.BatchTimeout != 5*time.Millisecond {
		t.Errorf("parsed %+v", cfg)
	}
	if err := fs.Parse([]string{"--kafka.brokers="}); err != nil {
		t.Fatal(err)
	}
	cfg.Embedded = false
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--kafka.brokers") {
		t.Errorf("empty --kafka.brokers: %v, want an error naming the flag", err)
	}
}

// TestWriterWaitsForEveryInSyncReplicaUnlessToldOtherwise: the writer asks for acks=all by
// default (a zero Config and the flags' defaults alike), for the leader's only with Acks "1".
func TestWriterWaitsForEveryInSyncReplicaUnlessToldOtherwise(t *testing.T) {
	for _, c := range []struct {
		acks string
		want kafkago.RequiredAcks
	}{{"", kafkago.RequireAll}, {DefaultAcks, kafkago.RequireAll}, {"-1", kafkago.RequireAll}, {"1", kafkago.RequireOne}} {
		cfg := DefaultConfig()
		cfg.Acks = c.acks
		w, err := NewWriter(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := w.w.RequiredAcks; got != c.want {
			t.Errorf("Acks %q: the writer asks for %v, want %v", c.acks, got, c.want)
		}
		_ = w.Close()
	}
	cfg := DefaultConfig()
	cfg.Acks = "0"
	if _, err := NewWriter(cfg, nil, nil); err == nil {
		t.Error("NewWriter with Acks 0: nil error")
	}
}

func TestNewConsumerRejectsBadConfig(t *testing.T) {
	cfg := DefaultConfig()
	for _, c := range []struct {
		name string
		cc   ConsumerConfig
		want string
	}{
		{"no group", ConsumerConfig{Topics: []string{"t"}}, "no consumer group id"},
		{"no topics", ConsumerConfig{Group: "g"}, "no topics"},
		{"an empty topic", ConsumerConfig{Group: "g", Topics: []string{""}}, "empty topic name"},
		{"a group with a space", ConsumerConfig{Group: "my group", Topics: []string{"t"}}, "consumer_group"},
		{"a topic name Kafka refuses", ConsumerConfig{Group: "g", Topics: []string{"a/b"}}, "Kafka topic name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewConsumer(cfg, c.cc, nil, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("NewConsumer: %v, want an error saying %q", err, c.want)
			}
		})
	}
	c, err := NewConsumer(cfg, ConsumerConfig{Group: "g", Topics: []string{"t"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Run(context.Background(), nil); err == nil {
		t.Error("Run with a nil handler: nil error")
	}
}

func TestRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.Canceled, false},
		{context.DeadlineExceeded, true},
		{errors.New("invalid message"), false},
		{kafkago.NotLeaderForPartition, true},
		{kafkago.NotEnoughReplicas, true},
		{kafkago.TopicAuthorizationFailed, false},
		{kafkago.MessageSizeTooLarge, false},
		{&WriteError{Topics: map[string]int{"t": 1}, Messages: 1, Failed: 1, err: kafkago.LeaderNotAvailable}, true},
		{fmt.Errorf("wrapped: %w", &net.OpError{Op: "dial", Err: errors.New("connection refused")}), true},
	} {
		if got := Retryable(c.err); got != c.want {
			t.Errorf("Retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("contradicts state")
	err := fmt.Errorf("handle: %w", Permanent(base))
	if !IsPermanent(err) || !errors.Is(err, base) {
		t.Errorf("IsPermanent(%v) = false or base lost", err)
	}
	if IsPermanent(base) || Permanent(nil) != nil {
		t.Error("an unmarked error is permanent, or Permanent(nil) is not nil")
	}
}

func TestWriteErrorSaysHowManyFailedWhere(t *testing.T) {
	e := &WriteError{Topics: map[string]int{"b": 2, "a": 1}, Messages: 10, Failed: 3, err: kafkago.NotEnoughReplicas}
	want := "write 10 messages (3 failed) to a (1), b (2): [19] Not Enough Replicas"
	if got := e.Error(); !strings.HasPrefix(got, want) {
		t.Errorf("Error() = %q, want prefix %q", got, want)
	}
	e = &WriteError{Topics: map[string]int{"t": 5}, Messages: 5, Failed: 5, err: context.DeadlineExceeded}
	if got, want := e.Error(), "write 5 messages to t: context deadline exceeded"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
