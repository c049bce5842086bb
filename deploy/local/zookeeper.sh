#!/usr/bin/env bash
# Starts, stops or checks a project-local Apache ZooKeeper (one standalone server) on loopback:
# the coordination service of the local replicated ClickHouse (deploy/local/clickhouse-cluster.sh).
# The server's jars are fetched once with Maven into the cache directory, as deploy/local/kafka.sh
# does for Kafka; the config comes from deploy/local/zookeeper and is rendered into the run
# directory, which also holds the data and the log.
#
#   deploy/local/zookeeper.sh start    fetch the jars if missing, reuse a healthy server, else start one
#   deploy/local/zookeeper.sh stop     stop the server this script started
#   deploy/local/zookeeper.sh status   exit 0 when a ZooKeeper answers `srvr` on the port
#   deploy/local/zookeeper.sh fetch    only fetch the jars (idempotent)
#   deploy/local/zookeeper.sh reset    stop the server and delete its run directory (data and log)
#
# Settings: HASHATLAS_ZK_PORT (default 22181), HASHATLAS_ZK_RUN_DIR (default
# $HASHATLAS_CACHE/zookeeper-<port>), HASHATLAS_ZK_HEAP (default 128m).
# Needs java (11 or newer) and mvn; installs them with apt when missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

zk_version=3.9.5

port="${HASHATLAS_ZK_PORT:-22181}"
run_dir="${HASHATLAS_ZK_RUN_DIR:-$HASHATLAS_CACHE/zookeeper-$port}"
heap="${HASHATLAS_ZK_HEAP:-128m}"
libs="$HASHATLAS_CACHE/zookeeper/$zk_version/libs"
libs_marker="$libs/.complete"
pid_file="$run_dir/zookeeper.pid"

# healthy reports whether a ZooKeeper serves requests on the port: `srvr` answers with its mode
# (standalone) once the server has loaded its data; `ruok` answers imok before that.
healthy() {
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf srvr >&3
    grep -q "^Mode: " <&3
  ' _ "$port" 2>/dev/null
}

# fetch copies the jars into $libs once (maven_fetch).
fetch() {
  [ -f "$libs_marker" ] && return
  local pom
  pom=$(mktemp)
  sed -e "s|@ZK_VERSION@|$zk_version|g" "$here/zookeeper/pom.xml" >"$pom"
  maven_fetch "$pom" "$libs" "Apache ZooKeeper $zk_version" "zookeeper-$zk_version.jar" metrics-core- snappy-java- slf4j-simple-
  rm -f "$pom"
}

render() {
  sed -e "s|@RUN_DIR@|$run_dir|g" -e "s|@PORT@|$port|g" "$here/zookeeper/zoo.cfg"
}

running_pid() {
  [ -f "$pid_file" ] || return 1
  local pid
  pid=$(cat "$pid_file")
  kill -0 "$pid" 2>/dev/null && ps -o args= -p "$pid" | grep -q 'ZooKeeperServerMain' && echo "$pid"
}

start() {
  if healthy; then
    log "reusing the healthy ZooKeeper on 127.0.0.1:$port"
    return
  fi
  fetch
  if running_pid >/dev/null; then
    log "a ZooKeeper from $run_dir is running but not answering; stopping it"
    stop
  fi
  mkdir -p "$run_dir/data" "$run_dir/log"
  render >"$run_dir/zoo.cfg"
  log "starting Apache ZooKeeper $zk_version on 127.0.0.1:$port (data and log in $run_dir)"
  local t0 pid
  t0=$(now_ms)
  (cd "$run_dir" && exec nohup java -Xms"$heap" -Xmx"$heap" -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dorg.slf4j.simpleLogger.showDateTime=true \
    -Dzookeeper.jmx.log4j.disable=true -cp "$libs/*" \
    org.apache.zookeeper.server.ZooKeeperServerMain "$run_dir/zoo.cfg" \
    >>"$run_dir/log/zookeeper.log" 2>&1 </dev/null) &
  pid=$!
  echo "$pid" >"$pid_file"
  for _ in $(seq 1 120); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$run_dir/log/zookeeper.log" >&2 || true
      rm -f "$pid_file"
      die "ZooKeeper exited while starting (log in $run_dir/log)"
    fi
    if healthy; then
      log "ZooKeeper is up on 127.0.0.1:$port (pid $pid) after $(since "$t0") s"
      return
    fi
    sleep 0.1
  done
  tail -n 30 "$run_dir/log/zookeeper.log" >&2 || true
  die "ZooKeeper did not answer on 127.0.0.1:$port within 12 s (log in $run_dir/log)"
}

stop() {
  [ -f "$pid_file" ] || { log "no ZooKeeper started from $run_dir"; return; }
  local pid
  if pid=$(running_pid); then
    kill "$pid"
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "ZooKeeper did not stop within 10 s; killing it"
      kill -9 "$pid"
    fi
  fi
  rm -f "$pid_file"
  log "stopped the ZooKeeper of $run_dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) healthy ;;
  fetch) fetch ;;
  reset) stop && rm -rf "$run_dir" && log "deleted $run_dir" ;;
  *) die "usage: $0 start|stop|status|fetch|reset" ;;
esac
