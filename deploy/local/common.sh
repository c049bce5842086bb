# Shared settings for the local service scripts. Sourced, not run.
# Everything fetched or generated lives under HASHATLAS_CACHE (outside the git tree).
HASHATLAS_CACHE="${HASHATLAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hashatlas}"
export HASHATLAS_CACHE
log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# as_root runs a command as root (directly when we are root, through sudo otherwise).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

now_ms() { date +%s%3N; }
# since prints the seconds since a now_ms reading, with one decimal.
since() { local d=$(($(now_ms) - $1)); printf '%d.%d' $((d / 1000)) $((d % 1000 / 100)); }

# need_java_tools installs Java and Maven with apt when either is missing.
need_java_tools() {
  local pkgs=()
  command -v java >/dev/null 2>&1 || pkgs+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
  [ ${#pkgs[@]} -eq 0 ] && return
  log "installing ${pkgs[*]} with apt"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq "${pkgs[@]}" >/dev/null
}

# Pinned so that Maven does not resolve "the latest" plugin on every machine.
maven_dependency_plugin=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

# maven_fetch POM LIBS WHAT JAR...: copies the runtime jars of the pom file POM's dependencies
# into the directory LIBS once, checking that a jar starting with each JAR arrived; WHAT names
# them in messages. LIBS/.complete is written only after a complete copy, so an interrupted
# fetch is redone.
maven_fetch() {
  local pom=$1 libs=$2 what=$3 t0 tmp jar
  shift 3
  [ -f "$libs/.complete" ] && return
  need_java_tools
  tmp=$(mktemp -d)
  cp "$pom" "$tmp/pom.xml"
  log "fetching the jars of $what with Maven into $libs"
  t0=$(now_ms)
  if ! (cd "$tmp" && mvn -q -B "$maven_dependency_plugin:copy-dependencies" \
    -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1); then
    tail -n 30 "$tmp/mvn.log" >&2
    rm -rf "$tmp"
    die "could not fetch the $what jars with Maven"
  fi
  for jar in "$@"; do
    compgen -G "$tmp/libs/$jar*" >/dev/null || { rm -rf "$tmp"; die "Maven did not copy $jar*"; }
  done
  rm -rf "$libs"
  mkdir -p "$(dirname "$libs")"
  mv "$tmp/libs" "$libs"
  rm -rf "$tmp"
  date -u +%FT%TZ >"$libs/.complete"
  log "fetched $(find "$libs" -name '*.jar' | wc -l) jars ($(du -sh "$libs" | cut -f1)) in $(since "$t0") s"
}
