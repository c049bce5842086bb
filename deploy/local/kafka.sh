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
# Needs java (17 or newer) and mvn; installs them with apt when missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

kafka_version=4.4.0
# The log4j version kafka-server 4.4.0 depends on: the slf4j binding must match log4j-core.
log4j_version=2.25.5
# Pinned so that Maven does not resolve "the latest" plugin on every machine.
dependency_plugin=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
# Fixed, so that a run directory formatted once stays valid (base64url of 16 bytes).
cluster_id=aGFzaGF0bGFzLWthZmthIQ

port="${HASHATLAS_KAFKA_PORT:-29092}"
controller_port=$((port + 1))
run_dir="${HASHATLAS_KAFKA_RUN_DIR:-$HASHATLAS_CACHE/kafka-$port}"
heap="${HASHATLAS_KAFKA_HEAP:-512m}"
libs="$HASHATLAS_CACHE/kafka/$kafka_version/libs"
libs_marker="$libs/.complete"
pid_file="$run_dir/kafka.pid"

now_ms() { date +%s%3N; }
# since prints the seconds since t0 (from now_ms), with one decimal.
since() { local d=$(($(now_ms) - $1)); printf '%d.%d' $((d / 1000)) $((d % 1000 / 100)); }

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

need_tools() {
  local pkgs=()
  command -v java >/dev/null 2>&1 || pkgs+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
  [ ${#pkgs[@]} -eq 0 ] && return
  log "installing ${pkgs[*]} with apt"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq "${pkgs[@]}" >/dev/null
}

# fetch copies the broker's runtime jars into $libs once; the marker is written only after a
# complete copy, so an interrupted fetch is redone.
fetch() {
  [ -f "$libs_marker" ] && return
  need_tools
  local t0
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  sed -e "s|@KAFKA_VERSION@|$kafka_version|g" -e "s|@LOG4J_VERSION@|$log4j_version|g" \
    "$here/kafka/pom.xml" >"$tmp/pom.xml"
  log "fetching the jars of Apache Kafka $kafka_version with Maven into $libs"
  t0=$(now_ms)
  if ! (cd "$tmp" && mvn -q -B "$dependency_plugin:copy-dependencies" \
    -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1); then
    tail -n 30 "$tmp/mvn.log" >&2
    die "could not fetch the Kafka jars with Maven"
  fi
  [ -f "$tmp/libs/kafka_2.13-$kafka_version.jar" ] || die "Maven did not copy kafka_2.13-$kafka_version.jar"
  rm -rf "$libs"
  mkdir -p "$(dirname "$libs")"
  mv "$tmp/libs" "$libs"
  date -u +%FT%TZ >"$libs_marker"
  log "fetched $(find "$libs" -name '*.jar' | wc -l) jars ($(du -sh "$libs" | cut -f1)) in $(since "$t0") s"
}

java_opts() {
  printf '%s\n' -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dkafka.logs.dir="$run_dir/log" \
    -Dlog4j2.configurationFile="$run_dir/log4j2.xml"
}

# render prints the broker config for this run directory and port.
render() {
  sed -e "s|@RUN_DIR@|$run_dir|g" -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$controller_port|g" \
    "$here/kafka/server.properties"
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
    if ! java "${opts[@]}" -cp "$libs/*" kafka.tools.StorageTool format --standalone \
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
  prepare
  log "starting Apache Kafka $kafka_version on 127.0.0.1:$port (controller :$controller_port, data and logs in $run_dir)"
  local t0 opts pid
  t0=$(now_ms)
  mapfile -t opts < <(java_opts)
  # Only what this start logs counts: server.log keeps the lines of earlier runs.
  local log_from=0
  [ -f "$run_dir/log/server.log" ] && log_from=$(stat -c %s "$run_dir/log/server.log")
  (cd "$run_dir" && exec nohup java "${opts[@]}" -cp "$libs/*" kafka.Kafka "$run_dir/server.properties" \
    >"$run_dir/log/stdout.log" 2>&1 </dev/null) &
  pid=$!
  echo "$pid" >"$pid_file"
  for _ in $(seq 1 240); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$run_dir/log/stdout.log" "$run_dir/log/server.log" >&2 2>/dev/null || true
      rm -f "$pid_file"
      die "the broker exited while starting (logs in $run_dir/log)"
    fi
    if started_since "$log_from" && healthy; then
      log "broker is up on 127.0.0.1:$port (pid $pid) after $(since "$t0") s"
      return
    fi
    sleep 0.25
  done
  tail -n 30 "$run_dir/log/stdout.log" "$run_dir/log/server.log" >&2 2>/dev/null || true
  die "the broker did not answer on 127.0.0.1:$port within 60 s (logs in $run_dir/log)"
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

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) healthy ;;
  fetch) fetch ;;
  reset) stop && rm -rf "$run_dir" && log "deleted $run_dir" ;;
  *) die "usage: $0 start|stop|status|fetch|reset" ;;
esac
