#!/usr/bin/env bash
# Starts, stops or checks a project-local replicated ClickHouse on loopback: one ZooKeeper
# (deploy/local/zookeeper.sh) and two Debian clickhouse-server 18.16 replicas (each started by
# deploy/local/clickhouse-server.sh with its own ports and run directory, and the cluster config
# of deploy/local/clickhouse/cluster.xml in its config.d). The cluster is one shard of two
# replicas, for hashatlas' cluster mode (--clickhouse.cluster) and its tests.
#
#   deploy/local/clickhouse-cluster.sh start    start ZooKeeper and whichever replica is not
#                                               running; return once every replica answers and
#                                               none of its replicated tables is read-only
#   deploy/local/clickhouse-cluster.sh stop     stop both replicas, then ZooKeeper
#   deploy/local/clickhouse-cluster.sh status   exit 0 when both replicas answer and reach ZooKeeper
#   deploy/local/clickhouse-cluster.sh kill N   SIGKILL replica N (1 or 2), for the tests
#   deploy/local/clickhouse-cluster.sh addrs    print the replicas' addresses, comma-separated
#   deploy/local/clickhouse-cluster.sh reset    stop everything and delete the data of all three
#
# Then: HASHATLAS_TEST_CLICKHOUSE_CLUSTER=$(deploy/local/clickhouse-cluster.sh addrs) go test ...
#
# Settings: HASHATLAS_CH_CLUSTER_NAME (default hashatlas), HASHATLAS_CH_CLUSTER_TCP_PORT (default
# 9101: replica N listens on it + N - 1; HTTP on 8131 + N - 1, interserver HTTP on 9111 + N - 1),
# HASHATLAS_ZK_PORT (default 22181), HASHATLAS_CH_CLUSTER_DIR (default
# $HASHATLAS_CACHE/clickhouse-cluster-<tcp port>: ZooKeeper's and both replicas' data and logs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

cluster="${HASHATLAS_CH_CLUSTER_NAME:-hashatlas}"
tcp_base="${HASHATLAS_CH_CLUSTER_TCP_PORT:-9101}"
http_base="${HASHATLAS_CH_CLUSTER_HTTP_PORT:-8131}"
interserver_base="${HASHATLAS_CH_CLUSTER_INTERSERVER_PORT:-9111}"
zk_port="${HASHATLAS_ZK_PORT:-22181}"
dir="${HASHATLAS_CH_CLUSTER_DIR:-$HASHATLAS_CACHE/clickhouse-cluster-$tcp_base}"


tcp_port() { echo $((tcp_base + $1 - 1)); }
replica_dir() { echo "$dir/replica$1"; }

zk() { HASHATLAS_ZK_PORT="$zk_port" HASHATLAS_ZK_RUN_DIR="$dir/zookeeper" "$here/zookeeper.sh" "$@"; }

# server runs deploy/local/clickhouse-server.sh for replica $1.
server() {
  local n=$1
  shift
  HASHATLAS_CH_TCP_PORT="$(tcp_port "$n")" HASHATLAS_CH_HTTP_PORT=$((http_base + n - 1)) \
    HASHATLAS_CH_RUN_DIR="$(replica_dir "$n")" "$here/clickhouse-server.sh" "$@"
}

query() { clickhouse-client --host 127.0.0.1 --port "$(tcp_port "$1")" --query "$2" 2>/dev/null; }

# ready reports whether replica $1 answers, reaches ZooKeeper, and has no read-only replicated
# table (a replica restarted right after SIGKILL stays read-only until ZooKeeper ends the session
# of its previous life).
ready() {
  [ "$(query "$1" "SELECT count() FROM system.zookeeper WHERE path = '/'")" -gt 0 ] 2>/dev/null &&
    [ "$(query "$1" "SELECT count() FROM system.replicas WHERE is_readonly")" = 0 ]
}

# render writes the replica's cluster config into its run directory (clickhouse-server.sh renders
# the base config and leaves config.d and users.d alone).
render() {
  local n=$1 d
  d=$(replica_dir "$n")
  mkdir -p "$d/config.d" "$d/users.d"
  sed -e "s|@CLUSTER@|$cluster|g" -e "s|@REPLICA@|replica$n|g" \
    -e "s|@INTERSERVER_PORT@|$((interserver_base + n - 1))|g" -e "s|@TCP_PORT_1@|$(tcp_port 1)|g" \
    -e "s|@TCP_PORT_2@|$(tcp_port 2)|g" -e "s|@ZK_PORT@|$zk_port|g" \
    "$here/clickhouse/cluster.xml" >"$d/config.d/cluster.xml"
  cp "$here/clickhouse/cluster-users.xml" "$d/users.d/cluster.xml"
}

start() {
  local t0 n
  t0=$(now_ms)
  zk start
  for n in 1 2; do
    render "$n"
    server "$n" start
  done
  for _ in $(seq 1 240); do
    if ready 1 && ready 2; then
      log "cluster $cluster is up in $(since "$t0") s: replicas $(addrs) (ZooKeeper 127.0.0.1:$zk_port, data in $dir)"
      return
    fi
    sleep 0.25
  done
  for n in 1 2; do
    log "replica $n: $(query "$n" "SELECT database, table, is_readonly FROM system.replicas WHERE is_readonly FORMAT TSV" | head -3 | tr '\n' ' ')"
  done
  die "the replicas did not become writable within 60 s (logs in $dir/replica*/log)"
}

stop() {
  server 1 stop
  server 2 stop
  zk stop
}

kill_replica() {
  local n=$1 pid_file
  case "$n" in 1 | 2) ;; *) die "usage: $0 kill 1|2" ;; esac
  pid_file="$(replica_dir "$n")/server.pid"
  [ -f "$pid_file" ] || die "replica $n was not started by this script ($pid_file is missing)"
  kill -9 "$(cat "$pid_file")" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$(cat "$pid_file")" 2>/dev/null || break
    sleep 0.05
  done
  rm -f "$pid_file"
  log "killed replica $n (SIGKILL)"
}

addrs() { echo "127.0.0.1:$(tcp_port 1),127.0.0.1:$(tcp_port 2)"; }

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) ready 1 && ready 2 ;;
  kill) kill_replica "${2:-}" ;;
  addrs) addrs ;;
  reset) stop && rm -rf "$dir" && log "deleted $dir" ;;
  *) die "usage: $0 start|stop|status|kill N|addrs|reset" ;;
esac
