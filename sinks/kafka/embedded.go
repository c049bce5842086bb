package kafka

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is an in-process Kafka broker (franz-go's kfake) listening on loopback. It speaks the
// Kafka protocol, so every client in this package talks to it over TCP exactly as to a real
// broker. Its data lives in memory and is gone when it closes, unless it was started with
// StartEmbeddedIn, which also keeps it in a directory.
//
// It never creates a topic by itself (auto-creation is off, as it should be on a production
// broker): create topics with EnsureTopics. It is one broker, so topics can only have
// replication factor 1.
//
// Methods are safe for concurrent use.
type Embedded struct {
	cluster *kfake.Cluster
	addr    string
	log     logrus.FieldLogger
	once    sync.Once
}

// StartEmbedded starts a one-broker kfake cluster on 127.0.0.1:port (port 0 picks a free port)
// and returns once it accepts connections. Its data lives in memory only. Its warnings and
// errors go to log at debug and warn level (nil: discarded). The caller must Close it.
func StartEmbedded(port int, log logrus.FieldLogger) (*Embedded, error) {
	return startEmbedded(port, "", log)
}

// StartEmbeddedIn is StartEmbedded with the broker's data kept in the directory dir (created if
// missing) as well as in memory: a broker started again on the same dir, after the last one
// was closed, has its topics, records and committed offsets. That is a broker restart, which
// the integration tests put in the middle of a run. Writes reach the files without fsync, like
// Apache Kafka's defaults (kfake.DataDir).
func StartEmbeddedIn(dir string, port int, log logrus.FieldLogger) (*Embedded, error) {
	if dir == "" {
		return nil, errors.New("embedded broker: no data directory")
	}
	return startEmbedded(port, dir, log)
}

// embeddedSegmentBytes is the embedded broker's log.segment.bytes. kfake keeps a segment in one
// growing byte slice (in memory, or in memory as well as in its directory) and copies it whole
// each time it outgrows its capacity; at Kafka's 1 GiB, or kfake's 100 MiB, those copies were
// a tenth of the CPU of BenchmarkPublishConsume once a partition held tens of megabytes. A
// segment of 16 MiB bounds them (about 0.3 CPU-µs per record less at 900,000 records).
const embeddedSegmentBytes = 16 << 20

func startEmbedded(port int, dir string, log logrus.FieldLogger) (*Embedded, error) {
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("embedded broker port %d: want 0 to 65535", port)
	}
	log = orDiscard(log)
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ClusterID("hashatlas-embedded"),
		kfake.WithLogger(kfakeLogger{log}),
		kfake.BrokerConfigs(map[string]string{"log.segment.bytes": strconv.Itoa(embeddedSegmentBytes)}),
	}
	if dir != "" {
		opts = append(opts, kfake.DataDir(dir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		if dir != "" {
			return nil, fmt.Errorf("start on 127.0.0.1:%s with data in %s: %w", strconv.Itoa(port), dir, err)
		}
		return nil, fmt.Errorf("listen on 127.0.0.1:%s: %w", strconv.Itoa(port), err)
	}
	addrs := c.ListenAddrs()
	if len(addrs) != 1 {
		c.Close()
		return nil, fmt.Errorf("embedded broker listens on %d addresses, want 1", len(addrs))
	}
	e := &Embedded{cluster: c, addr: addrs[0], log: log}
	log.WithFields(logrus.Fields{"addr": e.addr, "dir": dir}).Info("embedded kafka broker started")
	return e, nil
}

// Addr returns the broker's host:port, for Config.Brokers.
func (e *Embedded) Addr() string { return e.addr }

// Close stops the broker and drops its data from memory (a broker of StartEmbeddedIn has
// written it to its directory first); clients connected to it see their connections
// closed. Calling it again does nothing.
func (e *Embedded) Close() {
	e.once.Do(func() {
		e.cluster.Close()
		e.log.WithField("addr", e.addr).Info("embedded kafka broker stopped")
	})
}

// kfakeLogger forwards kfake's errors (warn) and warnings (debug: they include every client
// disconnect) to logrus, and drops its per-request info and debug lines.
type kfakeLogger struct{ log logrus.FieldLogger }

func (l kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		l.log.WithField("kfake_level", "error").Warnf(format, args...)
	case kfake.LogLevelWarn:
		l.log.WithField("kfake_level", "warn").Debugf(format, args...)
	}
}
