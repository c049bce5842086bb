//go:build measure

package ingest_test

// Measures how long each HTTP collector takes to give up on a hostile source, and what a
// never-ending body costs it, with the settings the CronJobs run (deploy/k8s/base/collectors.yaml:
// the --pass-timeout of each, every other setting the command's default). Not part of the test
// suite: it takes minutes. Run it with
//
//	go test -tags measure -run TestMeasureHostileSources -v -timeout 30m ./ingest/
//
// HOSTILE_CASES selects cases (comma-separated: slowloris, retryafter, hugebody, hugebody-cl;
// default all) and HOSTILE_CLIENTS clients (bitcoind, braiins, eia, esplora, mempool-pools).

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/bitcoind"
	"github.com/hashatlas/hashatlas/ingest/braiins"
	"github.com/hashatlas/hashatlas/ingest/chain"
	"github.com/hashatlas/hashatlas/ingest/eia"
	"github.com/hashatlas/hashatlas/ingest/esplora"
	"github.com/hashatlas/hashatlas/ingest/grid"
	"github.com/hashatlas/hashatlas/ingest/ingesttest"
	"github.com/hashatlas/hashatlas/ingest/mempool"
	"github.com/hashatlas/hashatlas/ingest/pools"
	"github.com/hashatlas/hashatlas/schemas"
)

// fakes of the topics

type blockLog struct{}

func (blockLog) LastBlocks(context.Context, int) ([]schemas.Block, error) { return nil, nil }
func (blockLog) Publish(context.Context, ...schemas.Message) error        { return nil }

type gridLog struct{}

func (gridLog) ReadGrid(context.Context, func(schemas.GridObservation) error) error { return nil }
func (gridLog) Publish(context.Context, ...schemas.Message) error                   { return nil }

// collectors as the command builds them, against base, with the CronJob's pass timeout.

type built struct {
	col  ingest.Collector
	pass time.Duration
}

func build(t *testing.T, name, base string, rt http.RoundTripper) built {
	t.Helper()
	switch name {
	case "esplora":
		src, err := esplora.New(esplora.Config{BaseURL: base, HTTP: ingest.HTTPConfig{RequestsPerSecond: esplora.DefaultRequestsPerSecond, Timeout: 30 * time.Second}}, rt, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := chain.New(chain.Config{StartHeight: -1, ReorgDepth: 12, MaxBlocks: 360}, src, pools.Default(), blockLog{}, blockLog{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return built{c, 8 * time.Minute}
	case "bitcoind":
		src, err := bitcoind.New(bitcoind.Config{URL: base, User: "alice", Password: "s3cret", HTTP: ingest.HTTPConfig{Timeout: 30 * time.Second}}, rt, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := chain.New(chain.Config{StartHeight: -1, ReorgDepth: 12, MaxBlocks: 2000}, src, pools.Default(), blockLog{}, blockLog{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return built{c, 8 * time.Minute}
	case "mempool-pools":
		cfg := mempool.DefaultConfig()
		cfg.BaseURL = base
		cfg.HTTP.Timeout = 30 * time.Second
		cl, err := mempool.NewClient(cfg, rt, nil)
		if err != nil {
			t.Fatal(err)
		}
		topic := &ingesttest.PoolStatsTopic{}
		c, err := mempool.New(cfg, cl, pools.Default(), topic, topic, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return built{c, 25 * time.Minute}
	case "braiins":
		cfg := braiins.Config{BaseURL: base, Token: "brn-7f3a9c1d2e8b4f60-token", HTTP: ingest.HTTPConfig{Timeout: 30 * time.Second}}
		cl, err := braiins.NewClient(cfg, rt, nil)
		if err != nil {
			t.Fatal(err)
		}
		topic := &ingesttest.PoolStatsTopic{}
		c, err := braiins.New(cfg, cl, topic, topic, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return built{c, 8 * time.Minute}
	case "eia":
		cfg := eia.Config{BaseURL: base, APIKey: "TestKey0123456789abcdefABCDEF0123456789xyz", HTTP: ingest.HTTPConfig{Timeout: eia.DefaultTimeout}}
		cl, err := eia.NewClient(cfg, rt, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := eia.NewCollector(cfg, cl, grid.DefaultRegions(), gridLog{}, gridLog{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return built{c, 45 * time.Minute}
	}
	t.Fatalf("unknown client %s", name)
	return built{}
}

func selected(env, def string) []string {
	v := os.Getenv(env)
	if v == "" {
		v = def
	}
	return strings.Split(v, ",")
}

type result struct {
	client, hostile string
	took            time.Duration
	read            int64
	peakHeap        uint64
	err             string
}

func TestMeasureHostileSources(t *testing.T) {
	cases := map[string]http.HandlerFunc{
		"slowloris": ingesttest.SlowLoris(2 * time.Second), "retryafter": ingesttest.TooManyRequests(100000),
		"hugebody": ingesttest.EndlessBody(http.StatusOK, false), "hugebody-cl": ingesttest.EndlessBody(http.StatusOK, true),
	}
	var mu sync.Mutex
	var results []result
	for _, cs := range selected("HOSTILE_CASES", "slowloris,retryafter,hugebody,hugebody-cl") {
		h := cases[cs]
		parallel := !strings.HasPrefix(cs, "hugebody") // memory is measured one client at a time
		var wg sync.WaitGroup
		for _, name := range selected("HOSTILE_CLIENTS", "bitcoind,braiins,eia,esplora,mempool-pools") {
			run := func() {
				defer wg.Done()
				srv := httptest.NewServer(h)
				defer srv.Close()
				rt := &ingesttest.CountingTransport{}
				b := build(t, name, srv.URL, rt)
				runner, err := ingest.NewRunner(nil, nil, b.pass)
				if err != nil {
					t.Error(err)
					return
				}
				var peak atomic.Uint64
				stop := make(chan struct{})
				sampled := make(chan struct{})
				if !parallel {
					runtime.GC()
					go func() {
						defer close(sampled)
						var ms runtime.MemStats
						for {
							runtime.ReadMemStats(&ms)
							if ms.HeapAlloc > peak.Load() {
								peak.Store(ms.HeapAlloc)
							}
							select {
							case <-stop:
								return
							case <-time.After(2 * time.Millisecond):
							}
						}
					}()
				} else {
					close(sampled)
				}
				start := time.Now()
				err = runner.RunOnce(context.Background(), b.col)
				took := time.Since(start)
				close(stop)
				<-sampled
				msg := "<nil>"
				if err != nil {
					msg = err.Error()
				}
				mu.Lock()
				results = append(results, result{name, cs, took, rt.BodyBytes(), peak.Load(), msg})
				mu.Unlock()
			}
			wg.Add(1)
			if parallel {
				go run()
			} else {
				run()
			}
		}
		wg.Wait()
	}
	for _, r := range results {
		heap := "-"
		if r.peakHeap > 0 {
			heap = fmt.Sprintf("%.1f MiB", float64(r.peakHeap)/(1<<20))
		}
		t.Logf("%-11s %-13s gave up after %8.2fs  body bytes read %11d  peak heap %10s  err: %s",
			r.hostile, r.client, r.took.Seconds(), r.read, heap, r.err)
	}
}
