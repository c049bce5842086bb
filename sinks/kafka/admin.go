package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	kafkago "github.com/segmentio/kafka-go"
	metadataapi "github.com/segmentio/kafka-go/protocol/metadata"
)

// TopicConfigs returns the topic-level configs EnsureTopics creates spec with, on a cluster
// whose topics get replication replicas: spec.Configs() (cleanup.policy compact for compacted
// topics, delete otherwise; retention.ms from spec.Retention, -1 meaning forever, absent meaning
// the broker default), plus min.insync.replicas when replication > 1: replication-1, at most 2,
// so that with three replicas a write acknowledged by all in-sync replicas is on at least two
// brokers and one broker can be down without stopping writes. The caller owns the map.
func TopicConfigs(spec schemas.TopicSpec, replication int) map[string]string {
	cfgs := spec.Configs()
	if replication > 1 {
		cfgs["min.insync.replicas"] = strconv.Itoa(min(replication-1, defaultMinInsyncReplicas))
	}
	return cfgs
}

// EnsureTopics creates the topics of specs that do not exist, with spec.Partitions partitions,
// cfg.ReplicationFactor replicas and the configs of TopicConfigs, and checks that those that
// exist have the declared partition count and cleanup policy. It is idempotent: a second call
// creates nothing and returns nil. Existing topics are never altered (changing the partition
// count of a keyed topic moves keys to other partitions); a mismatch is an error naming the
// topic, what it has and what is declared, and the other topics are still created.
//
// A nil error means every topic of specs exists with its declared partitions and policy.
func EnsureTopics(ctx context.Context, cfg Config, specs []schemas.TopicSpec) error {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if len(specs) == 0 {
		return nil
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		if s.Name == "" {
			return fmt.Errorf("ensure topics: spec %d has no name", i)
		}
		if s.Partitions < 1 {
			return fmt.Errorf("ensure topic %s: declared %d partitions, want at least 1", s.Name, s.Partitions)
		}
		names[i] = s.Name
	}
	t := newTransport(cfg)
	defer t.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: t, Timeout: 30 * time.Second}

	existing, err := topicPartitions(ctx, client, names)
	if err != nil {
		return fmt.Errorf("ensure topics: %w (broker %s; check %s)", err, strings.Join(cfg.Brokers, ","), brokersHint)
	}

	var create []kafkago.TopicConfig
	for _, s := range specs {
		if _, ok := existing[s.Name]; ok {
			continue
		}
		tc := kafkago.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: cfg.ReplicationFactor}
		for k, v := range TopicConfigs(s, cfg.ReplicationFactor) {
			tc.ConfigEntries = append(tc.ConfigEntries, kafkago.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		sort.Slice(tc.ConfigEntries, func(i, j int) bool { return tc.ConfigEntries[i].ConfigName < tc.ConfigEntries[j].ConfigName })
		create = append(create, tc)
	}

	var errs []error
	settled := map[string]bool{} // created, or failed to create, by this call: nothing to check
	var created []string
	if len(create) > 0 {
		resp, err := client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: create})
		if err != nil {
			return fmt.Errorf("create %d topics: %w", len(create), err)
		}
		for _, tc := range create {
			err := resp.Errors[tc.Topic]
			switch {
			case err == nil:
				settled[tc.Topic] = true
				created = append(created, tc.Topic)
			case errors.Is(err, kafkago.TopicAlreadyExists):
				// Created concurrently by someone else: check it below like any other.
			default:
				settled[tc.Topic] = true
				errs = append(errs, fmt.Errorf("create topic %s (%d partitions, replication factor %d): %w", tc.Topic, tc.NumPartitions, tc.ReplicationFactor, err))
			}
		}
	}

	if len(created) > 0 {
		// A real broker reports a new topic before it leads its partitions; wait until every
		// partition answers an offset lookup, so that readers and writers can use it at once.
		if err := waitTopicsServed(ctx, client, created); err != nil {
			errs = append(errs, err)
		}
	}

	var check []schemas.TopicSpec
	for _, s := range specs {
		if !settled[s.Name] {
			check = append(check, s)
		}
	}
	if len(check) > 0 {
		errs = append(errs, checkTopics(ctx, cfg, client, existing, check)...)
	}
	return errors.Join(errs...)
}

// DeleteTopics deletes the topics of names that exist, with all their records and the consumer
// groups' offsets on them, and returns once the brokers no longer list any of them (for up to
// 30 s), so that they can be created again at once. Names that do not exist are skipped.
// Nothing in the pipeline deletes topics: this is for tests that need empty standard topics on
// a shared broker.
func DeleteTopics(ctx context.Context, cfg Config, names []string) error {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	t := newTransport(cfg)
	defer t.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: t, Timeout: 30 * time.Second}
	existing, err := topicPartitions(ctx, client, names)
	if err != nil {
		return fmt.Errorf("delete topics: %w", err)
	}
	var del []string
	for _, n := range names {
		if _, ok := existing[n]; ok {
			del = append(del, n)
		}
	}
	if len(del) == 0 {
		return nil
	}
	resp, err := client.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: del})
	if err != nil {
		return fmt.Errorf("delete topics %s: %w", strings.Join(del, ", "), err)
	}
	var errs []error
	for _, n := range del {
		if err := resp.Errors[n]; err != nil && !errors.Is(err, kafkago.UnknownTopicOrPartition) {
			errs = append(errs, fmt.Errorf("delete topic %s: %w", n, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Metadata is read through a fresh connection each time: a client caches it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		t := newTransport(cfg)
		left, err := topicPartitions(ctx, &kafkago.Client{Addr: client.Addr, Transport: t, Timeout: client.Timeout}, del)
		t.CloseIdleConnections()
		if err == nil && len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("wait for the deleted topics to go: %d still listed (%v)", len(left), err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitTopicsServed polls offset lookups of every partition of topics until none reports a
// temporary error (such as "not leader for partition" while a new partition's leader is
// elected), for up to 30 s.
func waitTopicsServed(ctx context.Context, client *kafkago.Client, topics []string) error {
	parts, err := topicPartitions(ctx, client, topics)
	if err != nil {
		return err
	}
	req := &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{}}
	for _, t := range topics {
		for p := 0; p < parts[t]; p++ {
			req.Topics[t] = append(req.Topics[t], kafkago.LastOffsetOf(p))
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.ListOffsets(ctx, req)
		var pending error
		if err != nil {
			pending = err
		} else {
			for t, ps := range resp.Topics {
				for _, po := range ps {
					if po.Error != nil {
						pending = fmt.Errorf("%s/%d: %w", t, po.Partition, po.Error)
					}
				}
			}
		}
		if pending == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("wait for the new topics to be served: %w", pending)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the new topics to be served: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// topicPartitions returns the partition count of each topic of names that exists.
func topicPartitions(ctx context.Context, client *kafkago.Client, names []string) (map[string]int, error) {
	md, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: names})
	if err != nil {
		return nil, fmt.Errorf("read topic metadata: %w", err)
	}
	out := map[string]int{}
	for _, t := range md.Topics {
		switch {
		case t.Error == nil:
			out[t.Name] = len(t.Partitions)
		case errors.Is(t.Error, kafkago.UnknownTopicOrPartition):
		default:
			return nil, fmt.Errorf("read metadata of topic %s: %w", t.Name, t.Error)
		}
	}
	return out, nil
}

// checkTopics compares existing topics with their specs: partition count and cleanup policy.
// parts has the partition counts read before; topics missing from it (created by someone else
// meanwhile) are read again through a fresh connection, since client caches metadata.
func checkTopics(ctx context.Context, cfg Config, client *kafkago.Client, parts map[string]int, specs []schemas.TopicSpec) []error {
	names := make([]string, len(specs))
	var missing []string
	for i, s := range specs {
		names[i] = s.Name
		if _, ok := parts[s.Name]; !ok {
			missing = append(missing, s.Name)
		}
	}
	if len(missing) > 0 {
		t := newTransport(cfg)
		defer t.CloseIdleConnections()
		more, err := topicPartitions(ctx, &kafkago.Client{Addr: client.Addr, Transport: t, Timeout: client.Timeout}, missing)
		if err != nil {
			return []error{err}
		}
		for k, v := range more {
			parts[k] = v
		}
	}
	policies, err := describeTopicConfigs(ctx, client, names, "cleanup.policy")
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, s := range specs {
		n, ok := parts[s.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("topic %s: creation reported it exists, but metadata does not show it", s.Name))
			continue
		}
		if n != s.Partitions {
			errs = append(errs, fmt.Errorf("topic %s has %d partitions, declared %d: keys would land on other partitions, so it is not changed in place (recreate it, or declare %d)", s.Name, n, s.Partitions, n))
		}
		want := TopicConfigs(s, 1)["cleanup.policy"]
		if got := policies[s.Name]["cleanup.policy"]; got != "" && got != want {
			errs = append(errs, fmt.Errorf("topic %s has cleanup.policy=%s, declared %s (change it with kafka-configs --alter)", s.Name, got, want))
		}
	}
	return errs
}

// describeTopicConfigs reads the named configs of topics (all configs when keys is empty) with a
// DescribeConfigs request, as topic -> config -> value.
func describeTopicConfigs(ctx context.Context, client *kafkago.Client, topics []string, keys ...string) (map[string]map[string]string, error) {
	req := &kafkago.DescribeConfigsRequest{}
	for _, t := range topics {
		req.Resources = append(req.Resources, kafkago.DescribeConfigRequestResource{
			ResourceType: kafkago.ResourceTypeTopic, ResourceName: t, ConfigNames: keys,
		})
	}
	resp, err := client.DescribeConfigs(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("describe configs of %d topics: %w", len(topics), err)
	}
	out := map[string]map[string]string{}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return nil, fmt.Errorf("describe configs of topic %s: %w", r.ResourceName, r.Error)
		}
		m := map[string]string{}
		for _, e := range r.ConfigEntries {
			m[e.ConfigName] = e.ConfigValue
		}
		out[r.ResourceName] = m
	}
	return out, nil
}

// Replication is where the replicas of some topics are, as one broker's metadata has it.
type Replication struct {
	// Brokers maps the node id of every broker the cluster has alive (registered and not
	// fenced) to its address.
	Brokers map[int]string
	// Partitions lists each topic's partitions in order.
	Partitions map[string][]PartitionReplicas
	// MinInsyncReplicas is each topic's min.insync.replicas (its own, or the brokers' default).
	MinInsyncReplicas map[string]int
}

// PartitionReplicas is one partition's leader, replicas and in-sync replicas, as node ids.
type PartitionReplicas struct {
	Partition int
	// Leader is the node id of the partition's leader, -1 when it has none.
	Leader int
	// Replicas are the brokers assigned a copy of the partition, alive or not; ISR are those
	// of them whose copy is in sync (a write with acks=all waits for all of them).
	Replicas, ISR []int
}

// UnderReplicated lists the partitions, as topic/partition, whose in-sync replicas are fewer
// than their replicas (a broker is down, or still catching up after a restart), in order.
func (r Replication) UnderReplicated() []string {
	var out []string
	for t, ps := range r.Partitions {
		for _, p := range ps {
			if len(p.ISR) < len(p.Replicas) {
				out = append(out, fmt.Sprintf("%s/%d", t, p.Partition))
			}
		}
	}
	sort.Strings(out)
	return out
}

// DescribeReplication reads the replicas and the in-sync replicas of every partition of topics
// (internal ones such as __consumer_offsets too) and the topics' min.insync.replicas, fresh
// from a broker (not from a client's cached metadata). A topic that does not exist is an error.
func DescribeReplication(ctx context.Context, cfg Config, topics []string) (Replication, error) {
	cfg = cfg.withDefaults()
	if err := validateBrokers(cfg.Brokers); err != nil {
		return Replication{}, err
	}
	t := newTransport(cfg)
	defer t.CloseIdleConnections()
	addr := kafkago.TCP(cfg.Brokers...)
	resp, err := t.RoundTrip(ctx, addr, &metadataapi.Request{TopicNames: topics})
	if err != nil {
		return Replication{}, fmt.Errorf("read the metadata of %s: %w", strings.Join(topics, ", "), err)
	}
	md, ok := resp.(*metadataapi.Response)
	if !ok {
		return Replication{}, fmt.Errorf("read the metadata of %s: unexpected response %T", strings.Join(topics, ", "), resp)
	}
	out := Replication{Brokers: map[int]string{}, Partitions: map[string][]PartitionReplicas{}, MinInsyncReplicas: map[string]int{}}
	for _, b := range md.Brokers {
		out.Brokers[int(b.NodeID)] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	ids := func(ns []int32) []int {
		o := make([]int, len(ns))
		for i, n := range ns {
			o[i] = int(n)
		}
		sort.Ints(o)
		return o
	}
	for _, tp := range md.Topics {
		if tp.ErrorCode != 0 {
			return Replication{}, fmt.Errorf("read the metadata of topic %s: %w", tp.Name, kafkago.Error(tp.ErrorCode))
		}
		ps := make([]PartitionReplicas, 0, len(tp.Partitions))
		for _, p := range tp.Partitions {
			ps = append(ps, PartitionReplicas{Partition: int(p.PartitionIndex), Leader: int(p.LeaderID), Replicas: ids(p.ReplicaNodes), ISR: ids(p.IsrNodes)})
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i].Partition < ps[j].Partition })
		out.Partitions[tp.Name] = ps
	}
	client := &kafkago.Client{Addr: addr, Transport: t, Timeout: 30 * time.Second}
	cfgs, err := describeTopicConfigs(ctx, client, topics, "min.insync.replicas")
	if err != nil {
		return Replication{}, err
	}
	for name, c := range cfgs {
		if n, err := strconv.Atoi(c["min.insync.replicas"]); err == nil {
			out.MinInsyncReplicas[name] = n
		}
	}
	return out, nil
}

// Ping checks that a broker of cfg.Brokers answers the Kafka protocol (an ApiVersions request)
// within cfg.DialTimeout. It returns nil at the first broker that answers; otherwise one line
// naming every broker tried, why it failed, and the flag and environment variable to fix, e.g.
// "kafka broker 127.0.0.1:9092 unreachable: dial tcp 127.0.0.1:9092: connect: connection
// refused (check --kafka.brokers / HASHATLAS_KAFKA_BROKERS)".
func Ping(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	if err := validateBrokers(cfg.Brokers); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	var fails []string
	for _, b := range cfg.Brokers {
		err := pingBroker(ctx, cfg.ClientID, b)
		if err == nil {
			return nil
		}
		fails = append(fails, fmt.Sprintf("%s unreachable: %s", b, oneLine(err)))
	}
	if len(fails) == 1 {
		return fmt.Errorf("kafka broker %s (check %s)", fails[0], brokersHint)
	}
	return fmt.Errorf("no kafka broker reachable: %s (check %s)", strings.Join(fails, "; "), brokersHint)
}

func pingBroker(ctx context.Context, clientID, addr string) error {
	nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	conn := kafkago.NewConnWith(nc, kafkago.ConnConfig{ClientID: clientID})
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.ApiVersions(); err != nil {
		return fmt.Errorf("connected, but no Kafka answer (is it a Kafka broker?): %w", err)
	}
	return nil
}

// oneLine folds an error message onto one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
