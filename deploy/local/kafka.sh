#!/usr/bin/env bash
# Starts, stops or checks a project-local Apache Kafka broker (KRaft, one node that is both
# broker and controller) on loopback, for integration tests and local runs against a real broker.
# The broker's jars are fetched once with Maven into the cache directory; the config comes from
# deploy/local/kafka and is rendered into the run directory, which also holds data and logs.
#
#   deploy/local/kafka.sh start    fetch the jars if missing, reuse a healthy broker (restarting
#                                  one it started from an outdated config), else start one
#   deploy/local/kafka.sh stop     stop the broker this script started
#   deploy/local/kafka.sh status   exit 0 when a Kafka broker answers on the port
#   deploy/local/kafka.sh fetch    only fetch the jars (idempotent)
#   deploy/local/kafka.sh reset    stop the broker and delete its run directory (data and logs)
#
# Then point the tests at it: HASHATLAS_TEST_KAFKA_BROKERS=127.0.0.1:29092 go test ./sinks/kafka/
#
# Settings: HASHATLAS_KAFKA_PORT (default 29092; the controller listens on the next port),
# HASHATLAS_KAFKA_RUN_DIR (default $HASHATLAS_CACHE/kafka-<port>),
# HASHATLAS_KAFKA_HEAP (default 512m).
#
# Cluster mode: three nodes, each broker and controller (a static quorum of three voters), from
# deploy/local/kafka/cluster.properties; a cluster of its own, beside the single broker:
#
#   deploy/local/kafka.sh cluster start    start every node that does not answer (all three at
#                                          once: a node finishes starting only with a quorum),
#                                          reuse those that do; restart all from an outdated config
#   deploy/local/kafka.sh cluster stop     stop the three at once (a node left alone without its
#                                          quorum cannot shut down cleanly and would be killed)
#   deploy/local/kafka.sh cluster kill N   kill -9 node N (1 to 3): a crash; `cluster start`
#                                          brings it back
#   deploy/local/kafka.sh cluster status   exit 0 when all three answer
#   deploy/local/kafka.sh cluster brokers  print the bootstrap list (host:port,host:port,host:port)
#   deploy/local/kafka.sh cluster reset    stop the cluster and delete its run directories
#
# Node N (node.id N) listens on HASHATLAS_KAFKA_CLUSTER_PORT + 2(N-1) (default 29192, 29194,
# 29196), its controller on the next port; run directories are
# $HASHATLAS_CACHE/kafka-cluster-<port>/nodeN (HASHATLAS_KAFKA_CLUSTER_DIR moves them); heap
# HASHATLAS_KAFKA_CLUSTER_HEAP (default 256m each).
# Needs java (17 or newer) and mvn; installs them with apt when missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

kafka_version=4.4.0
# The log4j version kafka-server 4.4.0 depends on: the slf4j binding must match log4j-core.
log4j_version=2.25.5
# Fixed, so that a run directory formatted once stays valid (base64url of 16 bytes).
cluster_id=aGFzaGF0bGFzLWthZmthIQ
# The same for the three-node cluster (another cluster: its nodes never talk to the broker above).
cluster3_id=aGFzaGF0bGFzLWNsdXN0ZXIz

port="${HASHATLAS_KAFKA_PORT:-29092}"
controller_port=$((port + 1))
run_dir="${HASHATLAS_KAFKA_RUN_DIR:-$HASHATLAS_CACHE/kafka-$port}"
heap="${HASHATLAS_KAFKA_HEAP:-512m}"
libs="$HASHATLAS_CACHE/kafka/$kafka_version/libs"
libs_marker="$libs/.complete"
pid_file="$run_dir/kafka.pid"
# What the functions below render and format: the single broker, unless select_node switches
# them to a node of the cluster.
template="$here/kafka/server.properties"
format_mode=(--standalone)
node_id=1
voters=

cluster_nodes=3
cluster_base="${HASHATLAS_KAFKA_CLUSTER_PORT:-29192}"
cluster_dir="${HASHATLAS_KAFKA_CLUSTER_DIR:-$HASHATLAS_CACHE/kafka-cluster-$cluster_base}"
cluster_heap="${HASHATLAS_KAFKA_CLUSTER_HEAP:-256m}"

# healthy reports whether a Kafka broker answers on the port: it sends an ApiVersions (v0)
# request and expects a response with the same correlation id and error code 0. A bare TCP
# connect is not enough: the broker accepts connections before it serves requests.
healthy() {
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    # size 14 | api key 18 (ApiVersions) | version 0 | correlation id 7 | client id "ping"
    printf "\x00\x00\x00\x0e\x00\x12\x00\x00\x00\x00\x00\x07\x00\x04ping" >&3
    # size (4 bytes, any) | correlation id 7 | error code 0
    head -c 10 <&3 | od -An -v -tx1 | tr -d " \n" | grep -Eq "^[0-9a-f]{8}000000070000$"
  ' _ "$port" 2>/dev/null
}

# fetch copies the jars into $libs once (maven_fetch).
fetch() {
  [ -f "$libs_marker" ] && return
  local pom
  pom=$(mktemp)
  sed -e "s|@KAFKA_VERSION@|$kafka_version|g" -e "s|@LOG4J_VERSION@|$log4j_version|g" "$here/kafka/pom.xml" >"$pom"
  maven_fetch "$pom" "$libs" "Apache Kafka $kafka_version" "kafka_2.13-$kafka_version.jar"
  rm -f "$pom"
}

java_opts() {
  printf '%s\n' -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dkafka.logs.dir="$run_dir/log" \
    -Dlog4j2.configurationFile="$run_dir/log4j2.xml"
}

# render prints the broker config for this run directory and port.
render() {
  sed -e "s|@RUN_DIR@|$run_dir|g" -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$controller_port|g" \
    -e "s|@NODE_ID@|$node_id|g" -e "s|@VOTERS@|$voters|g" "$template"
}

# prepare renders the config into the run directory and formats the log directory once.
prepare() {
  mkdir -p "$run_dir/data" "$run_dir/log"
  render >"$run_dir/server.properties"
  cp "$here/kafka/log4j2.xml" "$run_dir/log4j2.xml"
  if [ ! -f "$run_dir/data/meta.properties" ]; then
    log "formatting the KRaft log directory $run_dir/data (cluster id $cluster_id)"
    local opts
    mapfile -t opts < <(java_opts)
    if ! java "${opts[@]}" -cp "$libs/*" kafka.tools.StorageTool format "${format_mode[@]}" \
      --config "$run_dir/server.properties" --cluster-id "$cluster_id" >"$run_dir/log/format.log" 2>&1; then
      cat "$run_dir/log/format.log" >&2
      die "could not format $run_dir/data"
    fi
  fi
}

# started_since reports whether server.log has the line of a finished start after byte offset
# from (the whole file when it is shorter: rotated).
started_since() {
  local f="$run_dir/log/server.log" from=$1
  [ -f "$f" ] || return 1
  [ "$(stat -c %s "$f")" -ge "$from" ] || from=0
  tail -c +"$((from + 1))" "$f" | grep -q 'Kafka Server started'
}

running_pid() {
  [ -f "$pid_file" ] || return 1
  local pid
  pid=$(cat "$pid_file")
  kill -0 "$pid" 2>/dev/null && ps -o args= -p "$pid" | grep -q 'kafka\.Kafka' && echo "$pid"
}

start() {
  if healthy; then
    # A broker this script started from an older deploy/local/kafka/server.properties is
    # restarted with the current one (tests depend on its settings); any other is reused.
    if running_pid >/dev/null && ! render | cmp -s - "$run_dir/server.properties"; then
      log "the running broker's config differs from $here/kafka/server.properties; restarting it"
      stop
    else
      log "reusing the healthy broker on 127.0.0.1:$port"
      return
    fi
  fi
  fetch
  if running_pid >/dev/null; then
    log "a broker from $run_dir is running but not answering; stopping it"
    stop
  fi
  local t0
  t0=$(now_ms)
  launch
  for _ in $(seq 1 240); do
    if launched_up; then
      log "broker is up on 127.0.0.1:$port (pid $launched_pid) after $(since "$t0") s"
      return
    fi
    sleep 0.25
  done
  launch_failed "did not answer on 127.0.0.1:$port within 60 s"
}

# launch prepares the run directory and starts the broker in the background without waiting
# for it; launched_up then says whether it has started. It sets launched_pid and launched_from
# (the size of server.log before: only what this start logs counts, the file keeps the lines of
# earlier runs).
launch() {
  prepare
  log "starting Apache Kafka $kafka_version on 127.0.0.1:$port (controller :$controller_port, data and logs in $run_dir)"
  local opts
  mapfile -t opts < <(java_opts)
  launched_from=0
  [ -f "$run_dir/log/server.log" ] && launched_from=$(stat -c %s "$run_dir/log/server.log")
  (cd "$run_dir" && exec nohup java "${opts[@]}" -cp "$libs/*" kafka.Kafka "$run_dir/server.properties" \
    >"$run_dir/log/stdout.log" 2>&1 </dev/null) &
  launched_pid=$!
  echo "$launched_pid" >"$pid_file"
}

# launched_up reports whether the broker of launched_pid has started and answers; it dies when
# the broker exited.
launched_up() {
  kill -0 "$launched_pid" 2>/dev/null || launch_failed "exited while starting"
  started_since "$launched_from" && healthy
}

launch_failed() {
  tail -n 30 "$run_dir/log/stdout.log" "$run_dir/log/server.log" >&2 2>/dev/null || true
  if ! kill -0 "$launched_pid" 2>/dev/null; then rm -f "$pid_file"; fi
  die "the broker on 127.0.0.1:$port $1 (logs in $run_dir/log)"
}

stop() {
  [ -f "$pid_file" ] || { log "no broker started from $run_dir"; return; }
  local pid
  if pid=$(running_pid); then
    kill "$pid" # SIGTERM: a controlled shutdown
    for _ in $(seq 1 120); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "the broker did not stop within 30 s; killing it"
      kill -9 "$pid"
    fi
  fi
  rm -f "$pid_file"
  log "stopped the broker of $run_dir"
}

# select_node makes the functions above act on node $1 of the cluster.
select_node() {
  node_id=$1
  port=$((cluster_base + 2 * (node_id - 1)))
  controller_port=$((port + 1))
  run_dir="$cluster_dir/node$node_id"
  pid_file="$run_dir/kafka.pid"
  heap=$cluster_heap
  template="$here/kafka/cluster.properties"
  format_mode=()
  cluster_id=$cluster3_id
  local i
  voters=
  for i in $(seq 1 $cluster_nodes); do
    voters+="${voters:+,}$i@127.0.0.1:$((cluster_base + 2 * (i - 1) + 1))"
  done
}

cluster_brokers() {
  local i out=
  for i in $(seq 1 $cluster_nodes); do
    out+="${out:+,}127.0.0.1:$((cluster_base + 2 * (i - 1)))"
  done
  echo "$out"
}

cluster_status() {
  local i
  for i in $(seq 1 $cluster_nodes); do
    select_node "$i"
    healthy || return 1
  done
}

# cluster_start starts every node that does not answer, all at once (a node does not finish
# starting before two controllers form a quorum), and waits until each has.
cluster_start() {
  local i outdated=
  for i in $(seq 1 $cluster_nodes); do
    select_node "$i"
    if running_pid >/dev/null && ! render | cmp -s - "$run_dir/server.properties"; then outdated=$i; fi
  done
  if [ -n "$outdated" ]; then
    log "node $outdated runs from an older $here/kafka/cluster.properties; restarting the cluster"
    cluster_stop
  fi
  local t0 pids=() froms=() nodes=() pid
  t0=$(now_ms)
  for i in $(seq 1 $cluster_nodes); do
    select_node "$i"
    if healthy; then
      log "reusing node $i, healthy on 127.0.0.1:$port"
      continue
    fi
    fetch
    if pid=$(running_pid); then
      # Not answering: a process that lost its quorum or hangs. Nothing to save.
      log "node $i (pid $pid) is running but not answering; killing it"
      kill -9 "$pid"
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    launch
    nodes+=("$i") pids+=("$launched_pid") froms+=("$launched_from")
  done
  [ ${#nodes[@]} -gt 0 ] || return 0
  local waiting k
  for _ in $(seq 1 360); do
    waiting=0
    for k in "${!nodes[@]}"; do
      [ -n "${nodes[$k]}" ] || continue
      select_node "${nodes[$k]}"
      launched_pid=${pids[$k]} launched_from=${froms[$k]}
      if launched_up; then
        log "node ${nodes[$k]} is up on 127.0.0.1:$port (pid $launched_pid) after $(since "$t0") s"
        nodes[k]=
      else
        waiting=1
      fi
    done
    [ "$waiting" -eq 1 ] || { log "cluster up on $(cluster_brokers) after $(since "$t0") s"; return 0; }
    sleep 0.25
  done
  for k in "${!nodes[@]}"; do
    [ -n "${nodes[$k]}" ] || continue
    select_node "${nodes[$k]}"
    launched_pid=${pids[$k]}
    launch_failed "(node ${nodes[$k]}) did not start within 90 s"
  done
}

# cluster_stop stops every node at once (SIGTERM: controlled shutdowns while the quorum still
# stands), kills what did not stop within 30 s, and forgets their pids.
cluster_stop() {
  local i pid pids=() t0
  t0=$(now_ms)
  for i in $(seq 1 $cluster_nodes); do
    select_node "$i"
    if pid=$(running_pid); then
      kill "$pid"
      pids+=("$pid")
    fi
  done
  for _ in $(seq 1 120); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 1 ] || break
    sleep 0.25
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid did not stop within 30 s; killing it"
      kill -9 "$pid"
    fi
  done
  for i in $(seq 1 $cluster_nodes); do
    select_node "$i"
    rm -f "$pid_file"
  done
  log "stopped the cluster of $cluster_dir (${#pids[@]} nodes running) in $(since "$t0") s"
}

# cluster_kill kills node $1 with SIGKILL (no controlled shutdown: a crash) and waits until it
# is gone.
cluster_kill() {
  [[ "${1:-}" =~ ^[1-9]$ ]] && [ "$1" -le $cluster_nodes ] || die "usage: $0 cluster kill 1..$cluster_nodes"
  select_node "$1"
  local pid
  pid=$(running_pid) || die "node $1 is not running from $run_dir"
  kill -9 "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$pid_file"
  log "killed node $1 (pid $pid, 127.0.0.1:$port)"
}

cluster() {
  case "${1:-}" in
    start) cluster_start ;;
    stop) cluster_stop ;;
    kill) cluster_kill "${2:-}" ;;
    status) cluster_status ;;
    brokers) cluster_brokers ;;
    reset) cluster_stop && rm -rf "$cluster_dir" && log "deleted $cluster_dir" ;;
    *) die "usage: $0 cluster start|stop|kill N|status|brokers|reset" ;;
  esac
}

case "${1:-}" in
  cluster) shift && cluster "$@" ;;
  start) start ;;
  stop) stop ;;
  status) healthy ;;
  fetch) fetch ;;
  reset) stop && rm -rf "$run_dir" && log "deleted $run_dir" ;;
  *) die "usage: $0 start|stop|status|fetch|reset|cluster …" ;;
esac
