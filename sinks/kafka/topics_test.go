package kafka

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	kafkago "github.com/segmentio/kafka-go"
)

// configSourceTopic is DescribeConfigs' source of a config set on the topic itself
// (DYNAMIC_TOPIC_CONFIG), as opposed to a broker or built-in default.
// https://kafka.apache.org/protocol#The_Messages_DescribeConfigs
const configSourceTopic = 1

// TestStandardTopicsCarryTheirDeclaredConfigs reads the configs of every topic of
// schemas.Topics() back from the broker: each config the code declares (cleanup.policy,
// retention.ms) is set on the topic itself with the declared value, and the partition count is
// the declared one. A topic created by hand or by an older version with other settings fails it.
func TestStandardTopicsCarryTheirDeclaredConfigs(t *testing.T) {
	cfg := testConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr := newTransport(cfg)
	defer tr.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: tr}

	specs := schemas.Topics()
	req := &kafkago.DescribeConfigsRequest{}
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
		req.Resources = append(req.Resources, kafkago.DescribeConfigRequestResource{ResourceType: kafkago.ResourceTypeTopic, ResourceName: s.Name})
	}
	parts, err := topicPartitions(ctx, client, names)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.DescribeConfigs(ctx, req)
	if err != nil {
		t.Fatalf("describe the configs of the standard topics: %v", err)
	}
	got := map[string]map[string]kafkago.DescribeConfigResponseConfigEntry{}
	for _, r := range resp.Resources {
		if r.Error != nil {
			t.Fatalf("describe the configs of %s: %v", r.ResourceName, r.Error)
		}
		got[r.ResourceName] = map[string]kafkago.DescribeConfigResponseConfigEntry{}
		for _, e := range r.ConfigEntries {
			got[r.ResourceName][e.ConfigName] = e
		}
	}
	for _, s := range specs {
		if parts[s.Name] != s.Partitions {
			t.Errorf("%s has %d partitions, declared %d", s.Name, parts[s.Name], s.Partitions)
		}
		declared := TopicConfigs(s, cfg.withDefaults().ReplicationFactor)
		if len(declared) < 2 {
			t.Fatalf("%s declares %v: want at least cleanup.policy and retention.ms", s.Name, declared)
		}
		for k, want := range declared {
			e, ok := got[s.Name][k]
			switch {
			case !ok:
				t.Errorf("%s: the broker does not report %s (declared %s)", s.Name, k, want)
			case e.ConfigValue != want:
				t.Errorf("%s: %s=%s, declared %s", s.Name, k, e.ConfigValue, want)
			case e.ConfigSource != configSourceTopic:
				t.Errorf("%s: %s=%s comes from config source %d, want %d (set on the topic)", s.Name, k, e.ConfigValue, e.ConfigSource, configSourceTopic)
			}
		}
	}
}

// readPartition reads partition p of topic from its first offset up to its current end and
// returns the records in offset order.
func readPartition(t *testing.T, cfg Config, topic string, p int) []kafkago.Message {
	t.Helper()
	end := endOffsets(t, cfg, topic)[p]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: cfg.Brokers, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	var out []kafkago.Message
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s/%d up to offset %d: %v (got %d records)", topic, p, end, err, len(out))
		}
		out = append(out, m)
		if m.Offset >= end-1 {
			return out
		}
	}
}

// TestCompactionKeepsTheLastValueOfEveryKey writes five values for each of 20 keys to a
// compacted topic, then one more record that closes the segment holding them, and waits for the
// broker to compact it: what is left must be exactly the last value of every key, in the order
// written, and the closing record. This is what the compacted input topics rely on to stay
// small while a replay still finds every key's latest state.
//
// On Apache Kafka the topic is created with a 100 ms segment.ms (so the segment rolls at the
// closing record) and min.cleanable.dirty.ratio 0.01, and the broker's cleaner, woken every
// log.cleaner.backoff.ms (500 ms in deploy/local/kafka/server.properties), does the rest by
// itself. kfake (the embedded broker) ignores segment.ms and the dirty ratio: its cleaner runs
// on a timer of log.cleaner.backoff.ms, an hour unless set, over everything but the last
// record batch. On kfake the test therefore checks that nothing was compacted by the time
// Kafka's would have been, then runs kfake's cleaner (Cluster.Compact) and checks the same
// result.
func TestCompactionKeepsTheLastValueOfEveryKey(t *testing.T) {
	cfg := testConfig(t)
	real := os.Getenv(testBrokersEnv) != ""
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := uniqueName(t, "compacted")
	tr := newTransport(cfg)
	defer tr.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: tr}
	tc := kafkago.TopicConfig{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}
	for k, v := range map[string]string{
		"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01", "min.compaction.lag.ms": "0",
	} {
		tc.ConfigEntries = append(tc.ConfigEntries, kafkago.ConfigEntry{ConfigName: k, ConfigValue: v})
	}
	resp, err := client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{tc}})
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	if err := resp.Errors[topic]; err != nil {
		t.Fatalf("create %s with aggressive cleaner settings: %v", topic, err)
	}
	if err := waitTopicsServed(ctx, client, []string{topic}); err != nil {
		t.Fatal(err)
	}
	deleteTopicAtEnd(t, cfg, topic)

	const keys, rounds = 20, 5
	w := newTestWriter(t, cfg)
	for round := range rounds {
		var msgs []Message
		for k := range keys {
			msgs = append(msgs, Message{Topic: topic, Key: []byte(fmt.Sprintf("key-%02d", k)), Value: []byte(fmt.Sprintf("round-%d", round))})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("write round %d: %v", round, err)
		}
	}
	if got := readPartition(t, cfg, topic, 0); len(got) != keys*rounds {
		t.Fatalf("read %d records before compaction, wrote %d", len(got), keys*rounds)
	}
	time.Sleep(200 * time.Millisecond) // past segment.ms: the next record rolls the segment
	if err := w.WriteMessages(ctx, Message{Topic: topic, Key: []byte("close"), Value: []byte("closes the segment")}); err != nil {
		t.Fatal(err)
	}

	// compacted reports whether the partition holds exactly the last value of every key, then
	// the closing record, and describes what it holds.
	compacted := func() (bool, string) {
		got := readPartition(t, cfg, topic, 0)
		var seen []string
		ok := len(got) == keys+1
		for i, m := range got {
			seen = append(seen, string(m.Key)+"="+string(m.Value))
			want := fmt.Sprintf("key-%02d=round-%d", i, rounds-1)
			if i == keys {
				want = "close=closes the segment"
			}
			if i > keys || string(m.Key)+"="+string(m.Value) != want {
				ok = false
			}
		}
		if len(seen) > 6 {
			seen = append(seen[:3], append([]string{"..."}, seen[len(seen)-3:]...)...)
		}
		return ok, fmt.Sprintf("%d records: %v", len(got), seen)
	}

	if !real {
		time.Sleep(time.Second) // Kafka 4.4 compacts within about a second here
		if got := readPartition(t, cfg, topic, 0); len(got) != keys*rounds+1 {
			t.Fatalf("kfake compacted by itself within seconds (%d of %d records left); its cleaner was expected to run hourly", len(got), keys*rounds+1)
		}
		embedded.cluster.Compact()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, state := compacted()
		if ok {
			t.Logf("compacted to %s", state)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not compacted to the last value of each of %d keys after 30 s: %s", keys, state)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestDeleteTopicsEmptiesATopicForRecreation deletes a topic holding records (and one that does
// not exist): it is gone when DeleteTopics returns, and created again at once it is empty.
func TestDeleteTopicsEmptiesATopicForRecreation(t *testing.T) {
	cfg := testConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := newTestTopic(t, cfg, "deleted", 2)
	if err := newTestWriter(t, cfg).WriteMessages(ctx, Message{Topic: topic, Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if err := DeleteTopics(ctx, cfg, []string{topic, uniqueName(t, "never-created")}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	tr := newTransport(cfg)
	defer tr.CloseIdleConnections()
	parts, err := topicPartitions(ctx, &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: tr}, []string{topic})
	if err != nil || len(parts) != 0 {
		t.Fatalf("after DeleteTopics the metadata lists %v (err %v), want nothing", parts, err)
	}
	spec := schemas.TopicSpec{Name: topic, Partitions: 2, Retention: schemas.DLQRetention}
	if err := EnsureTopics(ctx, cfg, []schemas.TopicSpec{spec}); err != nil {
		t.Fatalf("create the deleted topic again: %v", err)
	}
	if end := endOffsets(t, cfg, topic); end[0]+end[1] != 0 {
		t.Fatalf("the topic created again holds %v records, want none", end)
	}
}

// TestDescribeReplicationReadsLeadersReplicasAndISR reads the replication of a new topic and of
// the standard topics: every partition listed, led by a live broker, with as many replicas as
// the configured replication factor, all in sync; a topic that does not exist is an error.
// (The three-broker cluster test, TestKafkaClusterBrokerKilledMidReplay, reads it with a broker
// down and after its restart.)
func TestDescribeReplicationReadsLeadersReplicasAndISR(t *testing.T) {
	cfg := testConfig(t)
	topic := newTestTopic(t, cfg, "replication", 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	names := []string{topic, schemas.TopicBlocks}
	r, err := DescribeReplication(ctx, cfg, names)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Brokers) == 0 {
		t.Fatal("no live broker in the metadata")
	}
	rf := cfg.withDefaults().ReplicationFactor
	for _, name := range names {
		ps := r.Partitions[name]
		want := 3
		if name == schemas.TopicBlocks {
			want = schemas.Topics()[0].Partitions
			for _, s := range schemas.Topics() {
				if s.Name == name {
					want = s.Partitions
				}
			}
		}
		if len(ps) != want {
			t.Fatalf("%s: %d partitions described, want %d", name, len(ps), want)
		}
		for i, p := range ps {
			if p.Partition != i {
				t.Errorf("%s: partition %d listed at %d", name, p.Partition, i)
			}
			if _, ok := r.Brokers[p.Leader]; !ok {
				t.Errorf("%s/%d: leader %d is not a live broker (%v)", name, p.Partition, p.Leader, r.Brokers)
			}
			if len(p.Replicas) != rf || fmt.Sprint(p.ISR) != fmt.Sprint(p.Replicas) {
				t.Errorf("%s/%d: replicas %v, in sync %v; want %d replicas, all in sync", name, p.Partition, p.Replicas, p.ISR, rf)
			}
		}
		t.Logf("%s: min.insync.replicas %d, partitions %v", name, r.MinInsyncReplicas[name], ps)
	}
	if u := r.UnderReplicated(); len(u) != 0 {
		t.Errorf("under-replicated partitions on a healthy broker: %v", u)
	}
	if _, err := DescribeReplication(ctx, cfg, []string{uniqueName(t, "missing")}); err == nil {
		t.Error("DescribeReplication of a topic that does not exist: nil error")
	}
}
