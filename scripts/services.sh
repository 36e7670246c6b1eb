#!/usr/bin/env bash
# Start or stop the real PostgreSQL, Redis and NATS JetStream that the runtime tests use,
# on loopback only, with their state under one throwaway directory.
#
#   eval "$(scripts/services.sh start)"   # installs what is missing, starts, exports URLs
#   scripts/services.sh env               # prints the export lines only
#   scripts/services.sh status            # says which service answers
#   scripts/services.sh stop              # stops the three
#
# stdout carries only `export XAGENT_TEST_*=...` lines; progress goes to stderr. `start` is
# idempotent: a service that already answers on its port is left alone. Missing binaries are
# installed once from Debian packages (postgresql, redis-server, nats-server), so the script
# works as root on a clean Debian machine; as another user it needs sudo for that step only.
#
# Environment:
#   XAGENT_SERVICES_DIR  state directory (default /tmp/xagent-services)
#   XAGENT_PG_PORT       PostgreSQL port (default 55432)
#   XAGENT_REDIS_PORT    Redis port (default 56379)
#   XAGENT_NATS_PORT     NATS client port (default 54222); monitoring on XAGENT_NATS_HTTP_PORT
#                        (default 58222)
set -euo pipefail

DIR="${XAGENT_SERVICES_DIR:-/tmp/xagent-services}"
PG_PORT="${XAGENT_PG_PORT:-55432}"
REDIS_PORT="${XAGENT_REDIS_PORT:-56379}"
NATS_PORT="${XAGENT_NATS_PORT:-54222}"
NATS_HTTP_PORT="${XAGENT_NATS_HTTP_PORT:-58222}"
HOST=127.0.0.1
WAIT_SECONDS=30

PG_DIR="$DIR/postgres"
PG_DATA="$PG_DIR/data"
REDIS_DIR="$DIR/redis"
NATS_DIR="$DIR/nats"

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- installation -------------------------------------------------------------------------

pg_bin_dir() {
  # Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<major>/bin.
  if [[ -n "${XAGENT_PG_BIN:-}" ]]; then
    echo "$XAGENT_PG_BIN"
  elif [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then
    echo /usr/lib/postgresql/15/bin
  elif command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  else
    local dirs=(/usr/lib/postgresql/*/bin)
    if [[ -d "${dirs[0]}" ]]; then
      printf '%s\n' "${dirs[@]}" | sort -V | tail -1
    fi
  fi
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

install_missing() {
  local packages=()
  local pg_bin
  pg_bin=$(pg_bin_dir)
  [[ -n "$pg_bin" && -x "$pg_bin/initdb" && -x "$pg_bin/pg_ctl" ]] || packages+=(postgresql)
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 \
    || packages+=(redis-server)
  command -v nats-server >/dev/null 2>&1 || packages+=(nats-server)
  ((${#packages[@]})) || return 0
  command -v apt-get >/dev/null 2>&1 || die "missing ${packages[*]} and no apt-get to install them"
  log "installing ${packages[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${packages[@]}" >&2
}

# --- probes ---------------------------------------------------------------------------------

pg_ready() {
  local pg_bin
  pg_bin=$(pg_bin_dir)
  "$pg_bin/pg_isready" -q -h "$HOST" -p "$PG_PORT" -t 2 >/dev/null 2>&1
}

redis_ready() {
  [[ "$(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null || true)" == PONG ]]
}

nats_ready() {
  # JetStream is usable once the monitoring endpoint reports healthy; bash's /dev/tcp
  # keeps curl out of the requirements.
  local reply
  reply=$(
    exec 2>/dev/null 3<>"/dev/tcp/$HOST/$NATS_HTTP_PORT" || exit 1
    printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$HOST" >&3
    timeout 2 cat <&3 2>/dev/null || true
  ) || return 1
  [[ "$reply" == *'"status":"ok"'* || "$reply" == *'"status": "ok"'* ]]
}

wait_for() {
  local name=$1 probe=$2 deadline=$((SECONDS + WAIT_SECONDS))
  until "$probe"; do
    ((SECONDS < deadline)) || die "$name did not answer within ${WAIT_SECONDS}s (logs in $DIR)"
    sleep 0.2
  done
  log "$name ready"
}

# --- PostgreSQL -------------------------------------------------------------------------------

# initdb and postgres refuse to run as root; CI runs as root, so the server runs as `postgres`.
pg_user() {
  if [[ $(id -u) -eq 0 ]]; then echo postgres; else id -un; fi
}

as_pg_user() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start_postgres() {
  if pg_ready; then
    log "postgres already answers on $HOST:$PG_PORT"
    return 0
  fi
  local pg_bin user
  pg_bin=$(pg_bin_dir)
  user=$(pg_user)
  mkdir -p "$PG_DIR"
  chown "$user" "$PG_DIR" 2>/dev/null || true
  if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
    log "initdb in $PG_DATA"
    rm -rf "$PG_DATA"
    as_pg_user "$pg_bin/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 \
      --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
      || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  fi
  log "starting postgres on $HOST:$PG_PORT"
  as_pg_user "$pg_bin/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/postgres.log" -w -t "$WAIT_SECONDS" \
    -o "-c listen_addresses=$HOST -p $PG_PORT -c unix_socket_directories=$PG_DIR -c fsync=off \
-c max_connections=200" start </dev/null >&2 \
    || { tail -20 "$PG_DIR/postgres.log" >&2 || true; die "postgres failed to start"; }
  wait_for postgres pg_ready
}

stop_postgres() {
  local pg_bin
  pg_bin=$(pg_bin_dir)
  if [[ -f "$PG_DATA/postmaster.pid" ]]; then
    as_pg_user "$pg_bin/pg_ctl" -D "$PG_DATA" -m fast -w stop >&2 || true
  fi
}

# --- Redis ------------------------------------------------------------------------------------

start_redis() {
  if redis_ready; then
    log "redis already answers on $HOST:$REDIS_PORT"
    return 0
  fi
  mkdir -p "$REDIS_DIR"
  log "starting redis on $HOST:$REDIS_PORT"
  redis-server --bind "$HOST" --port "$REDIS_PORT" --save '' --appendonly no \
    --daemonize yes --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" \
    --logfile "$REDIS_DIR/redis.log" </dev/null >&2
  wait_for redis redis_ready
}

stop_redis() {
  redis-cli -h "$HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
}

# --- NATS -------------------------------------------------------------------------------------

start_nats() {
  if nats_ready; then
    log "nats already answers on $HOST:$NATS_PORT"
    return 0
  fi
  mkdir -p "$NATS_DIR"
  log "starting nats-server (JetStream) on $HOST:$NATS_PORT"
  # Detached with every stream redirected, so `eval "$(... start)"` does not wait on it.
  setsid nats-server -js -a "$HOST" -p "$NATS_PORT" -m "$NATS_HTTP_PORT" -sd "$NATS_DIR/js" \
    -P "$NATS_DIR/nats.pid" </dev/null >>"$NATS_DIR/nats.log" 2>&1 &
  wait_for nats nats_ready
}

stop_nats() {
  local pid_file="$NATS_DIR/nats.pid"
  [[ -f "$pid_file" ]] || return 0
  local pid
  pid=$(cat "$pid_file")
  if kill "$pid" 2>/dev/null; then
    local deadline=$((SECONDS + WAIT_SECONDS))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  fi
  rm -f "$pid_file"
}

# --- commands ---------------------------------------------------------------------------------

print_env() {
  echo "export XAGENT_TEST_DATABASE_URL=postgresql://postgres@$HOST:$PG_PORT/postgres"
  echo "export XAGENT_TEST_REDIS_URL=redis://$HOST:$REDIS_PORT/0"
  echo "export XAGENT_TEST_NATS_URL=nats://$HOST:$NATS_PORT"
}

status() {
  local rc=0
  if pg_ready; then log "postgres: up"; else log "postgres: down"; rc=1; fi
  if redis_ready; then log "redis: up"; else log "redis: down"; rc=1; fi
  if nats_ready; then log "nats: up"; else log "nats: down"; rc=1; fi
  return "$rc"
}

main() {
  case "${1:-}" in
    start)
      install_missing
      mkdir -p "$DIR"
      chmod 755 "$DIR"
      start_postgres
      start_redis
      start_nats
      print_env
      ;;
    stop)
      stop_nats
      stop_redis
      stop_postgres
      log "stopped"
      ;;
    status) status ;;
    env) print_env ;;
    *)
      echo "usage: $0 start|stop|status|env" >&2
      exit 2
      ;;
  esac
}

main "$@"
