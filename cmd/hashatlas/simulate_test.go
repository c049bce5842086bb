package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/estimate/modeldata"
	"github.com/hashatlas/hashatlas/ingest/simulate"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/kafka"
)

func TestSimulateCheckConfigAndBadSettings(t *testing.T) {
	code, stdout, stderr := runCmd(t, map[string]string{"HASHATLAS_SIM_SEED": "7"}, "simulate", "--sim.from=2024-02-01", "--check-config")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"sim.seed=7\t# env HASHATLAS_SIM_SEED", "sim.from=2024-02-01\t# flag", "sim.to=2026-01-01\t# default", "sim.out=\t# default", "kafka.embedded=false\t# default"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check-config output lacks %q:\n%s", want, stdout)
		}
	}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"a malformed date names the flag and the variable", []string{"--sim.from=2024-13-01"}, []string{"--sim.from", "HASHATLAS_SIM_FROM", "YYYY-MM-DD"}},
		{"an end before the start names --sim.to", []string{"--sim.from=2025-01-01", "--sim.to=2024-01-01"}, []string{"--sim.to", "HASHATLAS_SIM_TO", "after --sim.from"}},
		{"a span before the genesis block is refused by the simulator", []string{"--sim.from=1999-01-01", "--sim.to=2000-01-01"}, []string{"--sim.*", "genesis block"}},
		{"a span into the future is refused by the simulator", []string{"--sim.from=2026-01-01", "--sim.to=2040-01-01"}, []string{"--sim.*", "and now"}},
		{"a seed that is not a number", []string{"--sim.seed=x"}, []string{"--sim.seed", "HASHATLAS_SIM_SEED"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, nil, append([]string{"simulate", "--check-config"}, tc.args...)...)
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if code != exitUsage || len(lines) != 1 {
				t.Fatalf("exit %d, stderr %q; want exit 2 and one line", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("stderr %q lacks %q", lines[0], w)
				}
			}
		})
	}
}

// TestSimulateOnTheEmbeddedBrokerWritesTruthAndModelData runs the command end to end with its
// own embedded broker over two weeks: it exits 0, prints one summary line whose counts are the
// world's, and writes the truth and model data (allocation, HQ, references and sites tables)
// that the world itself writes. Two weeks hold no whole month, so the world publishes no map:
// its references.csv is a header, as its sites.csv always is, and the directory loaded as
// model data has no map and no site at all (not the built-in real-world ones, which would
// place the world's rowless hashrate).
func TestSimulateOnTheEmbeddedBrokerWritesTruthAndModelData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runCmd(t, nil, "simulate", "--kafka.embedded", "--kafka.embedded-port=0", "--sim.seed=3",
		"--sim.from=2024-03-01", "--sim.to=2024-03-15", "--sim.out="+dir, "--log.level=warn")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	cfg := simulate.DefaultConfig()
	cfg.Seed = 3
	cfg.Start, cfg.End = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC)
	w, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := w.Summary()
	want := fmt.Sprintf("simulated seed 3 from 2024-03-01 to 2024-03-15: published %d blocks (heights 0-%d), %d difficulty epochs, %d grid observations, %d pool stats; truth and model data in %s\n",
		s.Blocks, s.LastHeight, s.Epochs, s.GridObservations, s.PoolStats, dir)
	if stdout != want {
		t.Fatalf("stdout %q, want %q", stdout, want)
	}
	var truth bytes.Buffer
	if err := w.WriteTruthCSV(&truth); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for name, wantData := range map[string][]byte{"truth.csv": truth.Bytes(), "allocation.csv": w.AllocationCSV(), "pool_hq.csv": w.PoolHQCSV(),
		"references.csv": w.ReferencesCSV(), "sites.csv": w.SitesCSV()} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, wantData) {
			t.Fatalf("%s: %v (%d bytes, want %d)", name, err, len(got), len(wantData))
		}
		files[name] = got
	}
	_, _, hardware := modeldata.EmbeddedFiles()
	if _, err := modeldata.ParseAll(files["allocation.csv"], files["pool_hq.csv"], hardware, files["references.csv"], files["sites.csv"]); err != nil {
		t.Fatalf("the written model data does not load: %v", err)
	}
	d, err := modeldata.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := d.Maps(); len(m) != 0 {
		t.Fatalf("the model data in %s has %d maps, the first %s; the world published none", dir, len(m), m[0].Source)
	}
	if s := d.Sites(); len(s) != 0 {
		t.Fatalf("the model data in %s has %d site reports, the first %s's; the world has none", dir, len(s), s[0].Company)
	}
}

// TestSimulationFilesCarryTheWorldsMaps: over the default two years writeSimulationFiles puts
// the world's published maps in references.csv, and the directory, loaded as model data, has
// exactly them (seven, January 2024 to July 2025, cited to the seed), none of the built-in
// ones, and no site report.
func TestSimulationFilesCarryTheWorldsMaps(t *testing.T) {
	cfg := simulate.DefaultConfig()
	cfg.Seed = 5
	w, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := writeSimulationFiles(dir, w); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "references.csv"))
	if err != nil || !bytes.Equal(got, w.ReferencesCSV()) {
		t.Fatalf("references.csv: %v (%d bytes, want %d)", err, len(got), len(w.ReferencesCSV()))
	}
	d, err := modeldata.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, m := range d.Maps() {
		sources = append(sources, m.Source)
	}
	if want := "simulator-map-2024-01 simulator-map-2024-04 simulator-map-2024-07 simulator-map-2024-10 simulator-map-2025-01 simulator-map-2025-04 simulator-map-2025-07"; strings.Join(sources, " ") != want {
		t.Fatalf("maps in the model data: %v, want %s", sources, want)
	}
	for _, r := range d.References() {
		if r.Citation != "hashatlas simulator seed 5" {
			t.Fatalf("reference %s %s cites %q", r.Source, r.Country, r.Citation)
		}
	}
	if len(d.Sites()) != 0 {
		t.Fatalf("%d site reports in the simulated model data, want none", len(d.Sites()))
	}
}

// TestSimulateTwiceIntoOneBrokerPublishesTheSameKeysAndContent publishes a world twice into a
// broker the test owns and reads the topics back: every message of the world is there, under
// its key, and the second run repeated each key with identical bytes.
func TestSimulateTwiceIntoOneBrokerPublishesTheSameKeysAndContent(t *testing.T) {
	broker, err := kafka.StartEmbedded(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	args := []string{"simulate", "--kafka.brokers=" + broker.Addr(), "--sim.from=2025-06-01", "--sim.to=2025-06-08", "--log.level=warn"}
	for run := 1; run <= 2; run++ {
		if code, _, stderr := runCmd(t, nil, args...); code != exitOK {
			t.Fatalf("run %d: exit %d: %s", run, code, stderr)
		}
	}
	cfg := simulate.DefaultConfig()
	cfg.Start, cfg.End = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 6, 8, 0, 0, 0, 0, time.UTC)
	w, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for m := range w.Messages() {
		b, err := schemas.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		want[m.Topic()+"|"+m.Key()] = string(b)
	}
	kc := kafka.DefaultConfig()
	kc.Brokers = []string{broker.Addr()}
	tr, err := kafka.NewTopicReader(kc, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	seen := map[string]int{}
	n, err := tr.ReadAll(ctx, []string{schemas.TopicBlocks, schemas.TopicDifficulty, schemas.TopicGrid, schemas.TopicPoolStats}, func(r kafka.Record) error {
		k := r.Topic + "|" + string(r.Key)
		if want[k] != string(r.Value) {
			return fmt.Errorf("%s: %s, the world has %q", k, r.Value, want[k])
		}
		seen[k]++
		return nil
	}, func(r kafka.Record, err error) { t.Errorf("undecodable record %s/%d: %v", r.Topic, r.Offset, err) })
	if err != nil {
		t.Fatal(err)
	}
	if n != 2*len(want) || len(seen) != len(want) {
		t.Fatalf("read %d records under %d keys; the world has %d messages (want each twice)", n, len(seen), len(want))
	}
	for k, c := range seen {
		if c != 2 {
			t.Fatalf("key %s published %d times in two runs", k, c)
		}
	}
}
