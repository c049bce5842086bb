package main

// The pipeline on a three-broker Kafka cluster: make test-kafka-cluster starts one on loopback
// with `deploy/local/kafka.sh cluster start` and names it in HASHATLAS_TEST_KAFKA_CLUSTER.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/kafka"
)

// testKafkaClusterEnv names the brokers of a three-node cluster started by
// `deploy/local/kafka.sh cluster start` (host:port,host:port,host:port). The test deletes and
// recreates the standard topics on it and kills its brokers: never point it at a cluster whose
// data matters.
const testKafkaClusterEnv = "HASHATLAS_TEST_KAFKA_CLUSTER"

// clusterReplication is the replication factor and the min.insync.replicas the test asks for.
const clusterReplication, clusterMinISR = 3, 2

// TestKafkaClusterBrokerKilledMidReplayLosesNothingAndRejoinsTheISR replays the shared history
// through the three-broker cluster with topics replicated three times (min.insync.replicas 2)
// and the writer's acks=all, and kills (SIGKILL) the broker leading the most block partitions
// once a third of the blocks are on the topic. The replay must ride through the leader
// elections and leave in ClickHouse exactly the rows of a replay through a fresh embedded
// broker, undisturbed: every acknowledged write survived the death of its leader. Then the
// killed broker is started again and must come back into the in-sync replicas of every
// partition of the standard topics and of the consumer groups' offsets.
func TestKafkaClusterBrokerKilledMidReplayLosesNothingAndRejoinsTheISR(t *testing.T) {
	addrs := os.Getenv(testKafkaClusterEnv)
	if addrs == "" {
		t.Skipf("%s is not set (make test-kafka-cluster starts a three-broker cluster and sets it)", testKafkaClusterEnv)
	}
	data := sharedData(t)
	cfg := kafka.DefaultConfig()
	cfg.Brokers = strings.Split(addrs, ",")
	cfg.ReplicationFactor = clusterReplication
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	var topics []string
	for _, s := range schemas.Topics() {
		topics = append(topics, s.Name)
	}
	if err := kafka.DeleteTopics(ctx, cfg, topics); err != nil {
		t.Fatalf("empty the standard topics on %s: %v", addrs, err)
	}
	if err := kafka.EnsureTopics(ctx, cfg, schemas.Topics()); err != nil {
		t.Fatal(err)
	}
	before, err := kafka.DescribeReplication(ctx, cfg, topics)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Brokers) != clusterReplication {
		t.Fatalf("the cluster at %s has %d live brokers (%v), want %d", addrs, len(before.Brokers), before.Brokers, clusterReplication)
	}
	for _, name := range topics {
		if got := before.MinInsyncReplicas[name]; got != clusterMinISR {
			t.Errorf("%s: min.insync.replicas %d, want %d", name, got, clusterMinISR)
		}
		for _, p := range before.Partitions[name] {
			if len(p.Replicas) != clusterReplication || len(p.ISR) != clusterReplication {
				t.Errorf("%s/%d: replicas %v, in sync %v; want %d of each", name, p.Partition, p.Replicas, p.ISR, clusterReplication)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	suffix := rand.Uint64() % 1_000_000_000
	dbKilled, dbReference := fmt.Sprintf("hashatlas_cluster_%d", suffix), fmt.Sprintf("hashatlas_reference_%d", suffix)
	dropDatabaseAtEnd(t, dbKilled)
	dropDatabaseAtEnd(t, dbReference)
	const total, said = 282174, "replayed 282174 blocks up to height 946236"

	started := time.Now()
	done := runCmdAsync(t, append(replayArgs(data, dbKilled, "--kafka.brokers="+addrs,
		fmt.Sprintf("--kafka.replication-factor=%d", clusterReplication)), fewDraws)...)
	// The undisturbed reference runs meanwhile, through a fresh embedded broker: the replay
	// through the cluster spends much of its time waiting for acknowledgements.
	refDone := runCmdAsync(t, append(replayArgs(data, dbReference, "--kafka.embedded", "--kafka.embedded-port=0"), fewDraws)...)
	tr, err := kafka.NewTopicReader(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	onTopic := waitForProgress(t, done, total/3, "a third of the blocks were published", func() int64 {
		n, err := tr.EndTotal(ctx, []string{schemas.TopicBlocks})
		if err != nil {
			t.Fatal(err)
		}
		return n
	})
	victim := busiestLeader(t, ctx, cfg)
	clusterScript(t, cfg, "kill", fmt.Sprint(victim))
	killedAt := time.Since(started)
	// restart starts the killed broker again, once; a second call waits for the first. The
	// cleanup leaves the cluster whole for the next run when the test ends before its restart.
	var (
		restartOnce sync.Once
		restartOut  string
		restartErr  error
		restartTook time.Duration
	)
	restart := func() {
		restartOnce.Do(func() {
			t0 := time.Now()
			restartOut, restartErr = runClusterScript(cfg, "start")
			restartTook = time.Since(t0)
		})
	}
	t.Cleanup(restart)
	if onTopic >= total {
		t.Fatalf("all %d blocks were published before the kill: nothing was written through the outage", onTopic)
	}

	r := <-done
	if r.code != exitOK {
		t.Fatalf("the replay through a cluster whose broker %d was killed after %d of %d blocks failed (exit %d): %s", victim, onTopic, total, r.code, r.errOut)
	}
	if !strings.Contains(r.out, said) {
		// Blocks acknowledged by the killed leader alone are gone (acks=1 does that): the
		// comparison below says which tables lack them.
		t.Errorf("the replay through the cluster said %q, want %q: acknowledged blocks were lost", strings.TrimSpace(r.out), said)
	}
	t.Logf("killed broker %d (leader of the most block partitions) %.1f s into a replay of %.1f s, %d of %d blocks on the topic; replay: %s",
		victim, killedAt.Seconds(), time.Since(started).Seconds(), onTopic, total, strings.TrimSpace(r.out))

	// The kill took: the broker is gone from the cluster and from every in-sync replica set.
	down, err := kafka.DescribeReplication(ctx, cfg, topics)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := down.Brokers[victim]; ok {
		t.Fatalf("broker %d is still live in the metadata after the kill: %v", victim, down.Brokers)
	}
	for _, name := range topics {
		for _, p := range down.Partitions[name] {
			if slices.Contains(p.ISR, victim) || len(p.ISR) < clusterMinISR {
				t.Errorf("%s/%d with broker %d down: in sync %v", name, p.Partition, victim, p.ISR)
			}
		}
	}

	// The broker restarts while the tables are compared.
	go restart()
	if ref := <-refDone; ref.code != exitOK {
		t.Fatalf("reference replay through a fresh embedded broker: exit %d: %s", ref.code, ref.errOut)
	}
	killed, reference := openTestDB(t, dbKilled), openTestDB(t, dbReference)
	got, want := sameViews(t, killed, dbKilled, reference, dbReference, "a broker killed")
	if n := want["blocks_latest.height"][0][1].(uint64); n != total {
		t.Fatalf("the reference holds %d blocks, want %d", n, total)
	}
	if n := got["blocks_latest.height"][0][1].(uint64); n != total {
		t.Errorf("the replay with broker %d killed holds %d blocks, want %d: %d lost", victim, n, total, total-n)
	}

	// The broker comes back and catches up: in sync again on every partition it holds a
	// replica of, the standard topics' and the consumer groups' offsets'.
	restart()
	if restartErr != nil {
		t.Fatalf("%v\n%s", restartErr, restartOut)
	}
	t.Logf("kafka.sh cluster start: %s", strings.TrimSpace(restartOut))
	restarted := time.Now().Add(-restartTook)
	all := append(slices.Clone(topics), "__consumer_offsets")
	var last kafka.Replication
	var missing []string
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		if last, err = kafka.DescribeReplication(ctx, cfg, all); err == nil {
			missing = outOfSync(last, all, victim)
			if len(missing) == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker %d is not back in sync 90 s after its restart: err %v; out of sync on %d partitions, e.g. %v",
				victim, err, len(missing), missing[:min(5, len(missing))])
		}
	}
	t.Logf("broker %d restarted in %.1f s, in sync on every partition of %d topics %.1f s after the restart began",
		victim, restartTook.Seconds(), len(all), time.Since(restarted).Seconds())
}

// busiestLeader returns the node id of the broker that leads the most partitions of the blocks
// topic (the lowest id among equals).
func busiestLeader(t *testing.T, ctx context.Context, cfg kafka.Config) int {
	t.Helper()
	r, err := kafka.DescribeReplication(ctx, cfg, []string{schemas.TopicBlocks})
	if err != nil {
		t.Fatal(err)
	}
	led := map[int]int{}
	for _, p := range r.Partitions[schemas.TopicBlocks] {
		led[p.Leader]++
	}
	var ids []int
	for id := range led {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	best := -1
	for _, id := range ids {
		if best < 0 || led[id] > led[best] {
			best = id
		}
	}
	if best < 0 {
		t.Fatalf("%s has no partition with a leader: %v", schemas.TopicBlocks, r.Partitions)
	}
	return best
}

// outOfSync lists the partitions of topics, as topic/partition, whose replicas are not all in
// sync or whose in-sync replicas lack the given broker, or that are missing.
func outOfSync(r kafka.Replication, topics []string, broker int) []string {
	var out []string
	for _, name := range topics {
		ps := r.Partitions[name]
		if len(ps) == 0 {
			out = append(out, name+" (no partitions)")
		}
		for _, p := range ps {
			if !slices.Equal(p.ISR, p.Replicas) || !slices.Contains(p.ISR, broker) {
				out = append(out, fmt.Sprintf("%s/%d (replicas %v, in sync %v)", name, p.Partition, p.Replicas, p.ISR))
			}
		}
	}
	return out
}

// clusterScript runs `deploy/local/kafka.sh cluster ARGS…` on the cluster of cfg (its first
// broker's port is the cluster's base port).
func clusterScript(t *testing.T, cfg kafka.Config, args ...string) {
	t.Helper()
	out, err := runClusterScript(cfg, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("kafka.sh cluster %s: %s", strings.Join(args, " "), strings.TrimSpace(out))
}

func runClusterScript(cfg kafka.Config, args ...string) (string, error) {
	_, port, err := net.SplitHostPort(cfg.Brokers[0])
	if err != nil {
		return "", err
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "deploy", "local", "kafka.sh"))
	if err != nil {
		return "", err
	}
	cmd := exec.Command(script, append([]string{"cluster"}, args...)...)
	cmd.Env = append(os.Environ(), "HASHATLAS_KAFKA_CLUSTER_PORT="+port)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s cluster %s: %w", script, strings.Join(args, " "), err)
	}
	return string(out), nil
}
