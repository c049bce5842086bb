#!/usr/bin/env bash
# Fetches the embedded ClickHouse engine (libchdb.so from the npm package
# @chdb/lib-linux-x64-gnu) into the cache directory, once, and prints the library's path.
# The library is ~500 MB unpacked and is never committed.
#
#   CHDB_LIB_PATH=$(deploy/local/chdb-fetch.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

version="${HASHATLAS_CHDB_VERSION:-26.7.3-stable.1}"
package="@chdb/lib-linux-x64-gnu@$version"
dir="$HASHATLAS_CACHE/chdb/$version"
lib="$dir/package/libchdb.so"

if [ ! -s "$lib" ]; then
  command -v npm >/dev/null 2>&1 || die "npm is needed to fetch $package"
  mkdir -p "$dir"
  tmp=$(mktemp -d "$dir/fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  log "fetching $package with npm pack"
  (cd "$tmp" && npm pack --silent "$package" >/dev/null)
  tarball=$(ls "$tmp"/*.tgz)
  tar -xzf "$tarball" -C "$tmp"
  [ -s "$tmp/package/libchdb.so" ] || die "$package has no package/libchdb.so"
  rm -rf "$dir/package"
  mv "$tmp/package" "$dir/package"
fi
printf '%s\n' "$lib"
