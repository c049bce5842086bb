# hashatlas — build, test and benchmark targets. `make test` sets up everything the tests need
# on a fresh machine (Debian's clickhouse-server, the chDB library) and then runs them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO        ?= go
BIN       ?= bin/hashatlas
# The embedded ClickHouse engine (chDB) is linked only with this build tag: chdb-go loads
# libchdb.so when the program starts and panics without it, so the plain build (the container
# image) leaves it out and --clickhouse.embedded-dir then says how to get it.
TAGS      ?= chdb
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE      ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
PKGS      := ./...
# Tests and benchmarks find the shared data here (HASHATLAS_DATA_DIR overrides).
export HASHATLAS_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: build build-plain demo services chdb clickhouse kafka clickhouse-cluster test test-cluster fmt-check vet lint bench clean
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

# The binary finds the embedded engine without CHDB_LIB_PATH: the library's directory is its
# run path (-r; CHDB_LIB_PATH, when set, still wins).
CHDB_LIB_DIR = $(patsubst %/,%,$(dir $(shell deploy/local/chdb-fetch.sh)))
build: chdb
	$(GO) build -tags '$(TAGS)' -ldflags '$(LDFLAGS) -r $(CHDB_LIB_DIR)' -o $(BIN) ./cmd/hashatlas
	@echo "built $(BIN) (it loads the embedded ClickHouse engine from $(CHDB_LIB_DIR))"

# build-plain is the binary without the embedded engine (what the container image ships).
build-plain:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)-plain ./cmd/hashatlas

chdb:
	@deploy/local/chdb-fetch.sh >/dev/null

# demo builds bin/hashatlas, then runs the whole pipeline in one process on the embedded broker
# and the embedded ClickHouse engine: the real history in HASHATLAS_DATA_DIR when it is there,
# else a simulated world. Its database stays in hashatlas-demo/clickhouse, where `bin/hashatlas
# sql` and `report` look when no --clickhouse.* flag says otherwise (the README's commands, which
# cmd/hashatlas/readme_test.go runs). DEMO_FLAGS passes more flags (e.g. DEMO_FLAGS=--simulate).
DEMO_OUT ?= hashatlas-demo
demo: build
	$(BIN) demo --out=$(DEMO_OUT) --log.level=warn $(DEMO_FLAGS)

clickhouse:
	@deploy/local/clickhouse-server.sh start

# kafka is a real Apache Kafka 4.4 broker (KRaft) on 127.0.0.1:29092, for the Kafka tests that
# also run on kfake.
kafka:
	@deploy/local/kafka.sh start

services: chdb clickhouse kafka

# clickhouse-cluster is a replicated ClickHouse on loopback for cluster mode (--clickhouse.cluster
# hashatlas): Apache ZooKeeper 3.9.5 on 127.0.0.1:22181 and two clickhouse-server 18.16 replicas
# on 127.0.0.1:9101 and :9102 (`deploy/local/clickhouse-cluster.sh stop` stops all three).
clickhouse-cluster:
	@deploy/local/clickhouse-cluster.sh start

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)
	$(GO) vet -tags '$(TAGS)' $(PKGS)

# lint runs staticcheck (fetched from the Go module proxy at a pinned version) on both builds.
lint:
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(STATICCHECK) -tags '$(TAGS)' ./...

test: services fmt-check vet lint
	# First every package on the embedded broker (kfake), whatever the environment says. The
	# timeout guards against a hang: cmd/hashatlas alone took 576 s of it (under the race
	# detector, beside the other packages) on a day the VM ran half as fast as usual.
	HASHATLAS_TEST_KAFKA_BROKERS= CHDB_LIB_PATH=$$(deploy/local/chdb-fetch.sh) $(GO) test -race -tags '$(TAGS)' -count=1 -timeout 20m $(PKGS)
	# The same Kafka suite on the real broker, then the pipeline's Kafka tests (TestKafka*: a
	# replay of the whole shared history with a broker restart, compared with kfake's rows; a
	# rebalance of two estimators), one package after the other: both restart the broker, and
	# the second empties its standard topics. The latter run without the race detector (the
	# first run had it): a full replay under it takes minutes.
	HASHATLAS_TEST_KAFKA_BROKERS=127.0.0.1:$${HASHATLAS_KAFKA_PORT:-29092} $(GO) test -race -count=1 -timeout 5m ./sinks/kafka/
	HASHATLAS_TEST_KAFKA_BROKERS=127.0.0.1:$${HASHATLAS_KAFKA_PORT:-29092} $(GO) test -count=1 -timeout 5m -run '^TestKafka' ./cmd/hashatlas
	$(GO) test -count=1 -run 'PlainBuild|BadConfig|CheckConfig' ./cmd/hashatlas
	$(MAKE) --no-print-directory test-cluster
	$(MAKE) --no-print-directory test-kafka-cluster

# test-cluster starts the replicated ClickHouse (clickhouse-cluster), runs the cluster-mode tests
# on it (TestCluster*: migrations through one replica and two migrators at once in
# sinks/clickhouse; the shared history replayed with a replica killed, compared with a single
# node, in cmd/hashatlas), one package at a time (the replay kills a replica), and stops the
# cluster again, whatever the tests did. The single-node server (clickhouse) stays up.
test-cluster: clickhouse
	rc=0; deploy/local/clickhouse-cluster.sh start && \
	  HASHATLAS_TEST_CLICKHOUSE_CLUSTER=$$(deploy/local/clickhouse-cluster.sh addrs) \
	  $(GO) test -p 1 -count=1 -timeout 8m -run '^TestCluster' -v ./sinks/clickhouse ./cmd/hashatlas || rc=$$?; \
	deploy/local/clickhouse-cluster.sh stop; exit $$rc

# test-kafka-cluster starts three Kafka brokers on loopback (`deploy/local/kafka.sh cluster
# start`: 127.0.0.1:29192, :29194 and :29196, beside the single broker of `make kafka`), runs the
# test that kills one of them mid-replay (TestKafkaCluster*: replication factor 3,
# min.insync.replicas 2, acks=all), and stops the three again, whatever the test did.
.PHONY: test-kafka-cluster
test-kafka-cluster: clickhouse
	rc=0; deploy/local/kafka.sh cluster start && \
	  HASHATLAS_TEST_KAFKA_CLUSTER=$$(deploy/local/kafka.sh cluster brokers) \
	  $(GO) test -count=1 -timeout 6m -run '^TestKafkaCluster' -v ./cmd/hashatlas || rc=$$?; \
	deploy/local/kafka.sh cluster stop; exit $$rc

# bench runs every benchmark once (-count 1), one package at a time (-p 1: go test would run two
# packages' benchmarks at once on this 2-core VM, each loading the other's figures), and prints
# its figures: ns/op, allocations, the rates the benchmarks report themselves (rows/s, msgs/s,
# MB/s) and BenchmarkHistoryGrowth's line per simulated world.
# It ends with three full replays of the shared history (file -> Kafka -> estimator -> ClickHouse
# server), each printing its wall time and peak RSS (take the median), each into a database of
# its own that it drops afterwards (left behind, each would keep a whole replay's tables on the
# local server). They run the plain build, the binary the container image ships for servers:
# the chdb build also maps the embedded engine's library, about 150 MB of RSS before it does
# anything (`bin/hashatlas version`: 170 MB against 20 MB).
bench: services build build-plain
	CHDB_LIB_PATH=$$(deploy/local/chdb-fetch.sh) $(GO) test -tags '$(TAGS)' -run '^$$' -bench . -benchmem -count 1 -p 1 -timeout 20m $(PKGS) \
	  | grep -E '^(Benchmark|ok|FAIL|pkg:|---)|years: [0-9]+ blocks'
	db=hashatlas_bench_$$(date +%s); ch=--clickhouse.addr=127.0.0.1:9000; rc=0; \
	for i in 1 2 3; do \
	  $(BIN)-plain replay --kafka.embedded --kafka.embedded-port=0 --log.level=warn $$ch --clickhouse.database=$${db}_$$i || rc=$$?; \
	  $(BIN)-plain sql $$ch "DROP DATABASE IF EXISTS $${db}_$$i" --log.level=warn >/dev/null || rc=$$?; \
	done; exit $$rc

clean:
	rm -rf bin
