package schemas

import (
	"slices"
	"testing"
	"time"
)

// TestTopics proves the topic list is complete and consistent: every name
// constant appears once, every topic carries a known schema, the keyed
// input topics and the estimates are compacted and kept forever, and the
// dead-letter topic is a delete topic with a long retention.
func TestTopics(t *testing.T) {
	specs := Topics()
	var names []string
	for _, s := range specs {
		if slices.Contains(names, s.Name) {
			t.Errorf("topic %s listed twice", s.Name)
		}
		names = append(names, s.Name)
		if s.Partitions < 1 {
			t.Errorf("%s: %d partitions", s.Name, s.Partitions)
		}
		if s.Doc == "" {
			t.Errorf("%s: no Doc", s.Name)
		}
		if !slices.Contains(knownSchemas, s.Schema) {
			t.Errorf("%s: schema %q is not a known schema", s.Name, s.Schema)
		}
	}
	want := []string{TopicBlocks, TopicDifficulty, TopicPoolStats, TopicGrid, TopicEstimates, TopicDLQ}
	if !slices.Equal(names, want) {
		t.Errorf("Topics() names = %q, want %q in this order", names, want)
	}
	for _, s := range specs {
		switch s.Name {
		case TopicBlocks, TopicDifficulty, TopicPoolStats, TopicGrid, TopicEstimates:
			if !s.Compacted || s.Retention != RetentionForever {
				t.Errorf("%s: compacted=%v retention=%v, want compacted and kept forever", s.Name, s.Compacted, s.Retention)
			}
			if c := s.Configs(); c["cleanup.policy"] != "compact" || c["retention.ms"] != "-1" {
				t.Errorf("%s: Configs() = %v", s.Name, c)
			}
		case TopicDLQ:
			if s.Compacted || s.Retention < 7*24*time.Hour {
				t.Errorf("%s: compacted=%v retention=%v, want delete policy and at least a week", s.Name, s.Compacted, s.Retention)
			}
			if c := s.Configs(); c["cleanup.policy"] != "delete" || c["retention.ms"] != "2592000000" {
				t.Errorf("%s: Configs() = %v, want delete and 30 days", s.Name, c)
			}
		}
	}
	if c := (TopicSpec{Name: "x"}).Configs(); c["cleanup.policy"] != "delete" || len(c) != 1 {
		t.Errorf("zero retention should leave retention.ms to the broker: %v", c)
	}
	// The caller owns the slice.
	specs[0].Name = "changed"
	if Topics()[0].Name != TopicBlocks {
		t.Error("Topics() returns shared state")
	}
}

// TestMessagesMatchTheirTopics proves each message type is published on a
// listed topic that declares that type's schema.
func TestMessagesMatchTheirTopics(t *testing.T) {
	for _, g := range goldens() {
		i := slices.IndexFunc(Topics(), func(s TopicSpec) bool { return s.Name == g.msg.Topic() })
		if i < 0 {
			t.Errorf("%s: topic %s is not in Topics()", g.file, g.msg.Topic())
			continue
		}
		if s := Topics()[i]; s.Schema != g.msg.SchemaName() {
			t.Errorf("%s: topic %s declares schema %s, message is %s", g.file, s.Name, s.Schema, g.msg.SchemaName())
		}
	}
}

// TestKeys proves each key has the documented format, and that the key
// separates what compaction must keep apart: two estimates that differ only
// in method (pool-allocation vs energy-adjusted) or model version, and two
// observations of one pool at different times.
func TestKeys(t *testing.T) {
	tests := []struct {
		msg  Message
		want string
	}{
		{goldenBlock(), "840000"},
		{goldenEpoch(), "838656"},
		{goldenPoolStats(), "foundryusa|mempool|86400|2024-04-20T00:00:00Z"},
		{goldenGrid(), "ERCO|demand|eia|3600|2024-04-20T05:00:00Z"},
		{goldenEstimate(), "network_hashrate|day|2024-04-20T00:00:00Z|network|fixed-window|2026.1"},
		{goldenDeadLetter(), "hashatlas.blocks.v1|3|1234"},
	}
	for _, tt := range tests {
		if got := tt.msg.Key(); got != tt.want {
			t.Errorf("%s: Key() = %q, want %q", tt.msg.SchemaName(), got, tt.want)
		}
	}
	e1, e2 := goldenEstimate(), goldenEstimate()
	e2.Method = "last-n"
	e3 := goldenEstimate()
	e3.ModelVersion = "2026.2"
	if e1.Key() == e2.Key() || e1.Key() == e3.Key() {
		t.Error("estimates of different methods or model versions share a key")
	}
	p1, p2 := goldenPoolStats(), goldenPoolStats()
	p2.Time = p2.Time.Add(24 * time.Hour)
	if p1.Key() == p2.Key() {
		t.Error("pool observations at different times share a key")
	}
	// A recomputed estimate (new value, new computation time) keeps its key.
	e4 := goldenEstimate()
	e4.Value, e4.ComputedAt = e4.Value*1.01, e4.ComputedAt.Add(time.Hour)
	if e1.Key() != e4.Key() {
		t.Error("a recomputed estimate changed key; compaction would keep both")
	}
}
