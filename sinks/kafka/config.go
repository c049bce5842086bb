package kafka

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// Defaults of Config, also the defaults of its flags.
const (
	DefaultBrokers           = "127.0.0.1:9092"
	DefaultEmbeddedPort      = 19092
	DefaultClientID          = "hashatlas"
	DefaultReplication       = 1
	DefaultBatchSize         = 1000
	DefaultBatchBytes        = 1 << 20
	DefaultBatchTimeout      = 10 * time.Millisecond
	DefaultCompression       = "snappy"
	DefaultAcks              = "all"
	DefaultDialTimeout       = 5 * time.Second
	DefaultRetryTimeout      = time.Minute
	brokersFlag              = "kafka.brokers"
	brokersEnv               = "HASHATLAS_KAFKA_BROKERS"
	brokersHint              = "--" + brokersFlag + " / " + brokersEnv
	maxReplicationFactor     = 32767
	maxBatchBytes            = 64 << 20
	compressionFlag          = "kafka.compression"
	acksFlag                 = "kafka.acks"
	defaultMinInsyncReplicas = 2
)

// Config says how to reach Kafka and how to write to it. Brokers is required (DefaultConfig and
// RegisterFlags set it); every other zero field means its default (see DefaultConfig and each
// field). A Config is a plain value; copy it freely.
type Config struct {
	// Brokers are the bootstrap brokers as host:port. Flag --kafka.brokers takes them
	// comma-separated. Default: 127.0.0.1:9092.
	Brokers []string
	// Embedded starts the in-process kfake broker on 127.0.0.1:EmbeddedPort and uses it instead
	// of Brokers (the caller does that with StartEmbedded). Default: false.
	Embedded bool
	// EmbeddedPort is the loopback port of the embedded broker; 0 picks a free port.
	// Default: 19092 (when set through the flag; a zero Config field means "any free port").
	EmbeddedPort int
	// ClientID is sent to the brokers with every request (it shows in broker logs and quotas).
	// Default: "hashatlas".
	ClientID string
	// ReplicationFactor is the replication factor of topics created by EnsureTopics. When it is
	// above 1, created topics also get min.insync.replicas (replication-1, at most 2; see
	// TopicConfigs) so that a write acknowledged by RequireAll is on more than one broker.
	// Default: 1.
	ReplicationFactor int
	// Acks is what a write waits for before it counts as written: "all" (every in-sync replica
	// of the partition has it; with min.insync.replicas 2, at least two brokers do, so the death
	// of any one of them loses no acknowledged write) or "1" (the partition's leader has it:
	// faster, but a write is lost when the leader dies before a follower copied it; the
	// three-broker test, TestKafkaClusterBrokerKilledMidReplayLosesNothingAndRejoinsTheISR,
	// loses thousands of blocks with it). Default: all.
	Acks string
	// BatchSize is how many messages the writer gathers for one partition before it sends them.
	// Default: 1000.
	BatchSize int
	// BatchBytes caps the uncompressed size of one batch for one partition; it must stay below
	// the broker's message.max.bytes (1 MiB by default on Kafka and kfake). A single message larger
	// than this is refused by the writer. Default: 1 MiB.
	BatchBytes int
	// BatchTimeout is how long the writer waits for a partition's batch to fill before it sends
	// it anyway. A synchronous write of a few messages takes at least this long. Default: 10ms.
	BatchTimeout time.Duration
	// Compression is the codec of produced batches: none, gzip, snappy, lz4 or zstd (all are
	// accepted by kfake and by Apache Kafka 4.x). On hashatlas' JSON snappy (in s2's fast mode,
	// see writer.go) compresses fastest (BenchmarkCompression: about 2,270 MB/s against 580 for
	// lz4, 290 for zstd, 230 for gzip; all decompress fast) and lz4 about 10 % smaller. No
	// compression is slower end to end: the broker then moves 3.4× the bytes. Default: snappy.
	Compression string
	// DialTimeout bounds establishing one connection to a broker; Ping uses it as its whole
	// budget. Default: 5s.
	DialTimeout time.Duration
	// RetryTimeout is how long a write, or a read of a TopicReader, keeps trying while the
	// brokers cannot be reached or are not ready (a broker restarting, a leader being elected)
	// before it returns the error. kafka-go's own retries give up after a few seconds, less
	// than a broker restart takes. A Consumer waits for the brokers as long as it runs.
	// Default: 1m.
	RetryTimeout time.Duration
}

// DefaultConfig returns the configuration the flags default to.
func DefaultConfig() Config {
	return Config{
		Brokers:           []string{DefaultBrokers},
		EmbeddedPort:      DefaultEmbeddedPort,
		ClientID:          DefaultClientID,
		ReplicationFactor: DefaultReplication,
		Acks:              DefaultAcks,
		BatchSize:         DefaultBatchSize,
		BatchBytes:        DefaultBatchBytes,
		BatchTimeout:      DefaultBatchTimeout,
		Compression:       DefaultCompression,
		DialTimeout:       DefaultDialTimeout,
		RetryTimeout:      DefaultRetryTimeout,
	}
}

// RegisterFlags registers the kafka.* flags on fs, each filling its field of c, and sets the
// fields to their defaults. Environment fallback (HASHATLAS_KAFKA_BROKERS for --kafka.brokers) is
// the caller's job. c must outlive fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	d := DefaultConfig()
	c.Brokers = d.Brokers
	fs.Var((*brokerList)(&c.Brokers), brokersFlag, "Kafka bootstrap brokers, comma-separated host:port (ignored with --kafka.embedded)")
	fs.BoolVar(&c.Embedded, "kafka.embedded", false, "start an in-process Kafka broker (kfake) on loopback and use it instead of --kafka.brokers; its data lives in memory only")
	fs.IntVar(&c.EmbeddedPort, "kafka.embedded-port", d.EmbeddedPort, "loopback port of the embedded broker (0: any free port)")
	fs.StringVar(&c.ClientID, "kafka.client-id", d.ClientID, "client id sent to the brokers")
	fs.IntVar(&c.ReplicationFactor, "kafka.replication-factor", d.ReplicationFactor, "replication factor of topics this program creates (above 1 also sets min.insync.replicas=2)")
	fs.StringVar(&c.Acks, acksFlag, d.Acks, "what a write waits for: all (every in-sync replica of the partition, at least min.insync.replicas) or 1 (the leader only: a write is lost if the leader dies before a follower copied it)")
	fs.IntVar(&c.BatchSize, "kafka.batch-size", d.BatchSize, "messages per partition batch the writer sends at once")
	fs.IntVar(&c.BatchBytes, "kafka.batch-bytes", d.BatchBytes, "uncompressed bytes per partition batch, below the broker's message.max.bytes")
	fs.DurationVar(&c.BatchTimeout, "kafka.batch-timeout", d.BatchTimeout, "how long the writer waits for a batch to fill before sending it")
	fs.StringVar(&c.Compression, compressionFlag, d.Compression, "compression of produced batches: none, gzip, snappy, lz4 or zstd")
	fs.DurationVar(&c.DialTimeout, "kafka.dial-timeout", d.DialTimeout, "time limit for connecting to a broker")
	fs.DurationVar(&c.RetryTimeout, "kafka.retry-timeout", d.RetryTimeout, "how long a write or a topic read keeps retrying while the brokers are unreachable or not ready (a restart) before it fails")
}

// Validate reports the first invalid field as one line naming its flag and environment variable.
// Brokers are checked only when Embedded is off (the embedded broker replaces them). A nil
// error means every other method of this package accepts c.
func (c Config) Validate() error {
	if !c.Embedded {
		if err := validateBrokers(c.Brokers); err != nil {
			return err
		}
	}
	if c.EmbeddedPort < 0 || c.EmbeddedPort > 65535 {
		return flagErr("kafka.embedded-port", strconv.Itoa(c.EmbeddedPort), "must be a port number, 0 to 65535 (0: any free port)")
	}
	if c.ReplicationFactor < 0 || c.ReplicationFactor > maxReplicationFactor {
		return flagErr("kafka.replication-factor", strconv.Itoa(c.ReplicationFactor), "must be at least 1")
	}
	if _, err := c.requiredAcks(); err != nil {
		return err
	}
	if c.BatchSize < 0 {
		return flagErr("kafka.batch-size", strconv.Itoa(c.BatchSize), "must be at least 1")
	}
	if c.BatchBytes < 0 || c.BatchBytes > maxBatchBytes {
		return flagErr("kafka.batch-bytes", strconv.Itoa(c.BatchBytes), fmt.Sprintf("must be between 1 and %d", maxBatchBytes))
	}
	if c.BatchTimeout < 0 {
		return flagErr("kafka.batch-timeout", c.BatchTimeout.String(), "must not be negative")
	}
	if c.DialTimeout < 0 {
		return flagErr("kafka.dial-timeout", c.DialTimeout.String(), "must not be negative")
	}
	if c.RetryTimeout < 0 {
		return flagErr("kafka.retry-timeout", c.RetryTimeout.String(), "must not be negative")
	}
	if _, err := c.codec(); err != nil {
		return err
	}
	return nil
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.ClientID == "" {
		c.ClientID = d.ClientID
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = d.ReplicationFactor
	}
	if c.Acks == "" {
		c.Acks = d.Acks
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = d.BatchBytes
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = d.BatchTimeout
	}
	if c.Compression == "" {
		c.Compression = d.Compression
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.RetryTimeout == 0 {
		c.RetryTimeout = d.RetryTimeout
	}
	return c
}

// requiredAcks maps Acks to kafka-go's setting; "" is the default, all. "-1" is accepted for all
// as the Java producer does; 0 (no acknowledgement) is not: a writer that is never told whether
// a write failed cannot retry it.
func (c Config) requiredAcks() (kafkago.RequiredAcks, error) {
	switch strings.ToLower(c.Acks) {
	case "", "all", "-1":
		return kafkago.RequireAll, nil
	case "1":
		return kafkago.RequireOne, nil
	default:
		return 0, flagErr(acksFlag, c.Acks, "must be all or 1")
	}
}

// codec maps Compression to kafka-go's codec; 0 means no compression.
func (c Config) codec() (kafkago.Compression, error) {
	switch strings.ToLower(c.Compression) {
	case "", "snappy":
		return kafkago.Snappy, nil
	case "lz4":
		return kafkago.Lz4, nil
	case "none":
		return 0, nil
	case "gzip":
		return kafkago.Gzip, nil
	case "zstd":
		return kafkago.Zstd, nil
	default:
		return 0, flagErr(compressionFlag, c.Compression, "must be none, gzip, snappy, lz4 or zstd")
	}
}

// validateBrokers checks that there is at least one broker and each is host:port with a port
// from 1 to 65535.
func validateBrokers(brokers []string) error {
	if len(brokers) == 0 {
		return flagErr(brokersFlag, "", "give at least one broker as host:port, e.g. 127.0.0.1:9092")
	}
	for _, b := range brokers {
		if err := validateBroker(b); err != nil {
			return flagErr(brokersFlag, strings.Join(brokers, ","), err.Error())
		}
	}
	return nil
}

func validateBroker(b string) error {
	if b == "" {
		return errors.New("empty broker address (want host:port, e.g. 127.0.0.1:9092)")
	}
	host, port, err := net.SplitHostPort(b)
	if err != nil {
		return fmt.Errorf("broker %q is not host:port (e.g. 127.0.0.1:9092)", b)
	}
	if host == "" {
		return fmt.Errorf("broker %q has no host (want host:port, e.g. 127.0.0.1:9092)", b)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("broker %q has an invalid host %q", b, host)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("broker %q has port %q, want 1 to 65535", b, port)
	}
	return nil
}

// flagErr is the one-line error for an invalid flag value; it names the flag and its
// environment variable in the form the cmd package uses.
func flagErr(name, value, reason string) error {
	return fmt.Errorf("invalid --%s %q (env %s): %s", name, value, envName(name), reason)
}

// envName is the environment variable that backs a flag, by the cmd package's rule.
func envName(flagName string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return "HASHATLAS_" + strings.ToUpper(r.Replace(flagName))
}

// brokerList is the flag.Value of --kafka.brokers: a comma-separated list of host:port. Set
// splits and trims; Validate checks the addresses, so that the error names the flag and the
// environment variable the same way for both.
type brokerList []string

func (b *brokerList) String() string {
	if b == nil {
		return ""
	}
	return strings.Join(*b, ",")
}

func (b *brokerList) Set(s string) error {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	*b = out
	return nil
}
