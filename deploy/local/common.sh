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
