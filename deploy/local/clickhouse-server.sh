#!/usr/bin/env bash
# Starts, stops or checks a project-local ClickHouse server (Debian's clickhouse-server 18.16)
# on loopback, with the config under deploy/local/clickhouse and data under the cache directory.
#
#   deploy/local/clickhouse-server.sh start    install if missing, reuse a healthy server, else start one
#   deploy/local/clickhouse-server.sh stop     stop the server this script started
#   deploy/local/clickhouse-server.sh status   exit 0 when a server answers on the port
#
# Settings: HASHATLAS_CH_TCP_PORT (default 9000), HASHATLAS_CH_HTTP_PORT (default 8123),
# HASHATLAS_CH_RUN_DIR (default $HASHATLAS_CACHE/clickhouse-server-<port>).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

tcp_port="${HASHATLAS_CH_TCP_PORT:-9000}"
http_port="${HASHATLAS_CH_HTTP_PORT:-8123}"
run_dir="${HASHATLAS_CH_RUN_DIR:-$HASHATLAS_CACHE/clickhouse-server-$tcp_port}"

healthy() {
  command -v clickhouse-client >/dev/null 2>&1 &&
    clickhouse-client --host 127.0.0.1 --port "$tcp_port" --query 'SELECT 1' >/dev/null 2>&1
}

install() {
  if command -v clickhouse-server >/dev/null 2>&1 && command -v clickhouse-client >/dev/null 2>&1; then
    return
  fi
  log "installing clickhouse-server and clickhouse-client with apt"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  # The package's postinst tries to start a system service; policy-rc.d may refuse that, which is fine:
  # this script runs its own server with a project-local config.
  as_root apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
}

start() {
  if healthy; then
    log "reusing the healthy server on 127.0.0.1:$tcp_port"
    return
  fi
  install
  mkdir -p "$run_dir"/{data,tmp,user_files,format_schemas,log}
  sed -e "s|@RUN_DIR@|$run_dir|g" -e "s|@TCP_PORT@|$tcp_port|g" -e "s|@HTTP_PORT@|$http_port|g" \
    "$here/clickhouse/config.xml" >"$run_dir/config.xml"
  cp "$here/clickhouse/users.xml" "$run_dir/users.xml"
  if [ -f "$run_dir/server.pid" ] && kill -0 "$(cat "$run_dir/server.pid")" 2>/dev/null; then
    log "a server from $run_dir is running but not answering; stopping it"
    stop
  fi
  log "starting clickhouse-server on 127.0.0.1:$tcp_port (data in $run_dir)"
  (cd "$run_dir" && clickhouse-server --config-file="$run_dir/config.xml" \
    --pid-file="$run_dir/server.pid" --daemon)
  for _ in $(seq 1 120); do
    if healthy; then
      log "server is up: $(clickhouse-client --host 127.0.0.1 --port "$tcp_port" --query 'SELECT version()')"
      return
    fi
    sleep 0.5
  done
  tail -n 20 "$run_dir/log/clickhouse-server.err.log" >&2 || true
  die "clickhouse-server did not answer on 127.0.0.1:$tcp_port within 60 s (logs in $run_dir/log)"
}

stop() {
  local pid_file="$run_dir/server.pid"
  [ -f "$pid_file" ] || { log "no server started from $run_dir"; return; }
  local pid
  pid=$(cat "$pid_file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$pid_file"
  log "stopped the server of $run_dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) healthy ;;
  *) die "usage: $0 start|stop|status" ;;
esac
