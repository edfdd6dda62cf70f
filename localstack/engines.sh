#!/usr/bin/env bash
# Local AWS engines for flowbus tests and `make dev`, without Docker:
#   kinesis-local  kinesis-mock (the Kinesis engine LocalStack runs), npm build
#   dynalite       DynamoDB API on LevelDB
#   sqslocal       SQS (AWS JSON 1.0), in memory: infra/cmd/sqslocal, built with go
#
# Usage: localstack/engines.sh start|stop|restart|status|env|wipe-data
#        localstack/engines.sh restart-engine|stop-engine|kill-engine NAME
#
#   start    install node_modules if missing (npm ci), build sqslocal into the run
#            dir if missing or older than its sources, start the engines on free
#            loopback ports, wait until each answers a real API call, write
#            localstack/.run/env and print its `export` lines on stdout.
#            Idempotent: engines already running are kept and the env is printed.
#            Typical use:  eval "$(localstack/engines.sh start)"
#            An engine that is not running but ran before (stopped or killed
#            with the commands below, or crashed) comes back on its old port.
#   stop     stop the engines (TERM, then KILL), children included, by pid;
#            the next start picks new ports. The data stays (see wipe-data).
#   restart  stop, then start.
#   status   print whether each engine runs and its endpoint; exit 0 if all
#            run, 3 otherwise.
#   env      print the env lines of running engines (exit 3 if not running).
#   wipe-data        delete the engines' data (they must be stopped).
#   restart-engine NAME  stop one engine (TERM, as `stop`) and start it again
#                    on the same port with its data, so whatever uses the
#                    endpoints (make dev) goes on with the same env.
#   stop-engine NAME stop one engine (TERM); `start` brings it back on its port.
#   kill-engine NAME SIGKILL one engine and its children, no grace: a crash.
#                    `start` or `restart-engine` brings it back on its port.
#            NAME is kinesis-local, dynalite or sqslocal. A fault suite uses
#            these while the local runtime keeps running.
#
# Persistence (FLOWBUS_ENGINES_PERSIST=1, the default), as LocalStack's
# PERSISTENCE=1: the engines keep their data under the data dir, so a
# restarted engine has its streams, records and tables again.
#   dynalite       --path <data>/dynalite: LevelDB on disk. Every write is in
#                  LevelDB's log before it is answered, so a kill -9 loses
#                  nothing acknowledged (not fsynced: an OS crash may).
#   kinesis-local  SHOULD_PERSIST_DATA with PERSIST_INTERVAL (60s by default):
#                  kinesis-mock writes its whole state to
#                  <data>/kinesis/kinesis-data.json every interval (after the
#                  previous write: seconds apart once it holds megabytes) and
#                  on a clean stop (TERM; it gets FLOWBUS_KINESIS_STOP_GRACE
#                  for that). atomic-persist.cjs makes each write a temporary
#                  file renamed over the old one, so a kill mid-write keeps the
#                  previous snapshot instead of an empty or cut file, which
#                  kinesis-mock cannot load (NoSuchElementException). A kill -9
#                  loses what was put since the last complete write (measured:
#                  docs/design.md, "Local engines"), and the engine then gives
#                  those sequence numbers again. Requests wait while it
#                  writes (seconds once the stream holds megabytes:
#                  docs/reliability.md, "Publishing stalls"; docs/benchmarks.md, make load), hence 60 s, not
#                  less; make test runs the engines in memory.
#   sqslocal       in memory only: a restart empties its queues.
# FLOWBUS_ENGINES_PERSIST=0 keeps everything in memory (an engine restart
# loses its data).
#
# Only the export lines go to stdout; progress and errors go to stderr.
#
# Knobs (environment):
#   FLOWBUS_KINESIS_PORT, FLOWBUS_DYNAMODB_PORT,
#   FLOWBUS_SQS_PORT                              fixed ports (default: free ones)
#   FLOWBUS_ENGINES_START_TIMEOUT                 seconds to wait per engine (60)
#   FLOWBUS_ENGINES_RUN_DIR                       state dir (localstack/.run)
#   FLOWBUS_ENGINES_PERSIST                       1 keep data on disk (default), 0 memory
#   FLOWBUS_ENGINES_DATA_DIR                      data dir (<run dir>/data)
#   FLOWBUS_KINESIS_PERSIST_INTERVAL              kinesis-mock write period (60s)
#   FLOWBUS_KINESIS_STOP_GRACE                    seconds kinesis-mock gets to write its
#                                                 state on a stop before KILL (60)
#   NODE                                          node binary (node)
#   GO                                            go binary, to build sqslocal (go)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/.." && pwd)"
RUN_DIR="${FLOWBUS_ENGINES_RUN_DIR:-$HERE/.run}"
case "$RUN_DIR" in
  /*) ;;
  *) RUN_DIR="$PWD/$RUN_DIR" ;; # engines run from inside it; keep paths absolute
esac
DATA_DIR="${FLOWBUS_ENGINES_DATA_DIR:-$RUN_DIR/data}"
case "$DATA_DIR" in
  /*) ;;
  *) DATA_DIR="$PWD/$DATA_DIR" ;;
esac
PERSIST="${FLOWBUS_ENGINES_PERSIST:-1}"
KINESIS_PERSIST_INTERVAL="${FLOWBUS_KINESIS_PERSIST_INTERVAL:-60s}"
NODE="${NODE:-node}"
GO="${GO:-go}"
BIND_HOST=127.0.0.1
START_TIMEOUT="${FLOWBUS_ENGINES_START_TIMEOUT:-60}"
STOP_GRACE_SECONDS=5
# kinesis-mock writes its whole state on a TERM before it exits, and that takes
# seconds once it holds megabytes of records (measured: docs/design.md, "Local
# engines"); a KILL at 5 s would lose what it put since its last write.
KINESIS_STOP_GRACE_SECONDS="${FLOWBUS_KINESIS_STOP_GRACE:-60}"
REGION=us-east-1
ENGINES=(kinesis-local dynalite sqslocal)
declare -A PICKED=() # engines whose port was picked by this start, not remembered

KINESIS_MAIN="$HERE/node_modules/kinesis-local/main.js"
DYNALITE_CLI="$HERE/node_modules/dynalite/cli.js"
SQSLOCAL_BIN="$RUN_DIR/sqslocal"

log() { printf 'engines: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

now_ms() { date +%s%3N; }

# --- state files --------------------------------------------------------------

pid_file() { printf '%s/%s.pid' "$RUN_DIR" "$1"; }
port_file() { printf '%s/%s.port' "$RUN_DIR" "$1"; }
log_file() { printf '%s/%s.log' "$RUN_DIR" "$1"; }

read_file() {
  if [[ -f "$1" ]]; then cat "$1"; fi
}

# The script path each engine's command line must contain, so that a recycled
# pid never gets mistaken for (or killed as) one of ours.
engine_marker() {
  case "$1" in
    kinesis-local) printf '%s' "$KINESIS_MAIN" ;;
    dynalite) printf '%s' "$DYNALITE_CLI" ;;
    sqslocal) printf '%s' "$SQSLOCAL_BIN" ;;
    *) die "unknown engine $1" ;;
  esac
}

# pid_is_engine NAME PID: PID is alive and runs that engine's script.
pid_is_engine() {
  local name=$1 pid=$2 cmdline
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  cmdline="$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ "$cmdline" == *"$(engine_marker "$name")"* ]]
}

# engine_pid NAME: prints the pid if the engine is running.
engine_pid() {
  local pid
  pid="$(read_file "$(pid_file "$1")")"
  if [[ -n "$pid" ]] && pid_is_engine "$1" "$pid"; then
    printf '%s' "$pid"
  fi
}

engine_port() { read_file "$(port_file "$1")"; }

endpoint() { printf 'http://%s:%s' "$BIND_HOST" "$(engine_port "$1")"; }

# --- helpers ------------------------------------------------------------------

ensure_node_modules() {
  command -v "$NODE" >/dev/null 2>&1 || die "node not found (need Node.js >= 20)"
  if [[ ! -f "$KINESIS_MAIN" || ! -f "$DYNALITE_CLI" ]]; then
    log "installing engines: npm ci in $HERE"
    (cd "$HERE" && npm ci --no-audit --no-fund >&2) || die "npm ci failed"
  fi
}

# build_sqslocal: builds the SQS engine into the run dir when the binary is
# missing or older than its sources (or go.mod/go.sum).
build_sqslocal() {
  if [[ -x "$SQSLOCAL_BIN" ]] && [[ -z "$(find "$REPO_ROOT/infra/sqslocal" "$REPO_ROOT/infra/cmd/sqslocal" \
    "$REPO_ROOT/go.mod" "$REPO_ROOT/go.sum" -newer "$SQSLOCAL_BIN" -print -quit 2>/dev/null)" ]]; then
    return 0
  fi
  if ! command -v "$GO" >/dev/null 2>&1; then
    log "go not found (needed to build sqslocal)"
    return 1
  fi
  log "building sqslocal: go build -o $SQSLOCAL_BIN ./infra/cmd/sqslocal"
  if ! (cd "$REPO_ROOT" && "$GO" build -buildvcs=false -o "$SQSLOCAL_BIN.tmp" ./infra/cmd/sqslocal) >&2; then
    rm -f "$SQSLOCAL_BIN.tmp"
    log "building sqslocal failed"
    return 1
  fi
  mv -f "$SQSLOCAL_BIN.tmp" "$SQSLOCAL_BIN"
}

# free_ports N: prints N distinct free TCP ports on the loopback address.
free_ports() {
  "$NODE" -e '
    const net = require("net");
    const n = Number(process.argv[1]), servers = [], ports = [];
    (function next() {
      if (ports.length === n) {
        servers.forEach((s) => s.close());
        console.log(ports.join(" "));
        return;
      }
      const s = net.createServer();
      s.on("error", (e) => { console.error(e.message); process.exit(1); });
      s.listen(0, process.argv[2], () => { servers.push(s); ports.push(s.address().port); next(); });
    })();
  ' "$1" "$BIND_HOST"
}

# probe NAME PORT: one real API call; succeeds on HTTP 200.
probe() {
  local name=$1 port=$2 service target ctype
  case "$name" in
    kinesis-local)
      service=kinesis target=Kinesis_20131202.ListStreams ctype=application/x-amz-json-1.1 ;;
    dynalite)
      service=dynamodb target=DynamoDB_20120810.ListTables ctype=application/x-amz-json-1.0 ;;
    sqslocal)
      service=sqs target=AmazonSQS.ListQueues ctype=application/x-amz-json-1.0 ;;
  esac
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
    --aws-sigv4 "aws:amz:$REGION:$service" --user test:test \
    -H "Content-Type: $ctype" -H "X-Amz-Target: $target" \
    -d '{}' "http://$BIND_HOST:$port/" 2>/dev/null || true)"
  [[ "$code" == 200 ]]
}

# is_alive PID: the process exists and is not a zombie (an engine's parent is
# gone once start returns, and whoever reaps orphans may take its time).
is_alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ -n "$stat" && "${stat:0:1}" != Z ]]
}

# descendants PID: prints PID's descendants, depth first.
descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null || true); do
    printf '%s\n' "$child"
    descendants "$child"
  done
}

# kill_tree PID [GRACE]: TERM the process, its process group (engines are
# started with setsid, so the group is theirs alone) and all descendants; KILL
# what is left after GRACE seconds (STOP_GRACE_SECONDS).
kill_tree() {
  local pid=$1 grace=${2:-$STOP_GRACE_SECONDS} pids p pgid i
  pids="$pid $(descendants "$pid" | tr '\n' ' ')"
  pgid="$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true)"
  if [[ "$pgid" == "$pid" ]]; then
    kill -TERM -- "-$pgid" 2>/dev/null || true
  fi
  for p in $pids; do
    kill -TERM "$p" 2>/dev/null || true
    kill -CONT "$p" 2>/dev/null || true # a stopped process acts on TERM only once continued
  done
  for ((i = 0; i < grace * 10; i++)); do
    local alive=0
    for p in $pids; do
      if is_alive "$p"; then alive=1; fi
    done
    ((alive)) || return 0
    sleep 0.1
  done
  log "pid $pid did not exit within ${grace}s of TERM: KILL"
  if [[ "$pgid" == "$pid" ]]; then
    kill -KILL -- "-$pgid" 2>/dev/null || true
  fi
  for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
  sleep 0.2
}

# stop_engine NAME: stops it; its port file stays, so that the next start
# brings it back on the same port (cmd_stop forgets the ports).
stop_engine() {
  local name=$1 pid grace=$STOP_GRACE_SECONDS t0
  pid="$(engine_pid "$name")"
  if [[ -n "$pid" ]]; then
    [[ "$name" != kinesis-local ]] || grace=$KINESIS_STOP_GRACE_SECONDS
    t0=$(now_ms)
    kill_tree "$pid" "$grace"
    log "$name stopped (pid $pid) in $(($(now_ms) - t0)) ms"
  fi
  rm -f "$(pid_file "$name")"
}

# kill_engine NAME: SIGKILL, no grace, to the engine's process group and
# descendants: what a crash or an OOM kill does.
kill_engine() {
  local name=$1 pid pids p i
  pid="$(engine_pid "$name")"
  if [[ -z "$pid" ]]; then
    log "$name is not running"
    return 0
  fi
  pids="$pid $(descendants "$pid" | tr '\n' ' ')"
  kill -KILL -- "-$pid" 2>/dev/null || true # setsid: the group is the engine's
  for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
  for ((i = 0; i < 50; i++)); do
    local alive=0
    for p in $pids; do
      if is_alive "$p"; then alive=1; fi
    done
    ((alive)) || break
    sleep 0.1
  done
  rm -f "$(pid_file "$name")"
  log "$name killed (SIGKILL, pid $pid); port $(engine_port "$name") kept"
}

# launch NAME PORT [TLS_PORT]: starts the engine in its own session, in the
# background, and records pid and port. Fails (1) only if sqslocal cannot be
# built.
launch() {
  local name=$1 port=$2 tls_port=${3:-} pid
  local logf
  if [[ "$name" == sqslocal ]]; then
    build_sqslocal || return 1
  fi
  logf="$(log_file "$name")"
  : > "$logf"
  local persist=false dynalite_path=()
  if [[ "$PERSIST" == 1 ]]; then
    persist=true
    mkdir -p "$DATA_DIR/kinesis" "$DATA_DIR/dynalite"
    dynalite_path=(--path "$DATA_DIR/dynalite")
  fi
  case "$name" in
    kinesis-local)
      # kinesis-mock always opens a TLS listener too and hard-codes host 0.0.0.0;
      # loopback-only.cjs makes every listen() in the process use 127.0.0.1.
      (
        cd "$RUN_DIR"
        exec env \
          LOCAL_ENGINES_BIND_HOST="$BIND_HOST" \
          KINESIS_MOCK_PLAIN_PORT="$port" \
          KINESIS_MOCK_TLS_PORT="$tls_port" \
          KINESIS_MOCK_CERT_PATH="$HERE/node_modules/kinesis-local/server.json" \
          AWS_REGION="$REGION" \
          CREATE_STREAM_DURATION=0ms \
          DELETE_STREAM_DURATION=0ms \
          REGISTER_STREAM_CONSUMER_DURATION=0ms \
          DEREGISTER_STREAM_CONSUMER_DURATION=0ms \
          START_STREAM_ENCRYPTION_DURATION=0ms \
          STOP_STREAM_ENCRYPTION_DURATION=0ms \
          MERGE_SHARDS_DURATION=0ms \
          SPLIT_SHARD_DURATION=0ms \
          UPDATE_SHARD_COUNT_DURATION=0ms \
          UPDATE_STREAM_MODE_DURATION=0ms \
          SHARD_LIMIT=10000 \
          ON_DEMAND_STREAM_COUNT_LIMIT=1000 \
          SHOULD_PERSIST_DATA="$persist" \
          LOAD_DATA_IF_EXISTS="$persist" \
          PERSIST_PATH="$DATA_DIR/kinesis" \
          PERSIST_FILE_NAME=kinesis-data.json \
          PERSIST_INTERVAL="$KINESIS_PERSIST_INTERVAL" \
          LOG_LEVEL="${KINESIS_LOG_LEVEL:-INFO}" \
          ROOT_LOG_LEVEL=ERROR \
          setsid "$NODE" --require "$HERE/loopback-only.cjs" --require "$HERE/atomic-persist.cjs" "$KINESIS_MAIN"
      ) < /dev/null >> "$logf" 2>&1 9>&- &
      pid=$!
      ;;
    dynalite)
      (
        cd "$RUN_DIR"
        exec setsid "$NODE" --require "$HERE/request-abort-guard.cjs" "$DYNALITE_CLI" \
          --host "$BIND_HOST" --port "$port" \
          --createTableMs 0 --deleteTableMs 0 --updateTableMs 0 \
          "${dynalite_path[@]}"
      ) < /dev/null >> "$logf" 2>&1 9>&- &
      pid=$!
      ;;
    sqslocal)
      (
        cd "$RUN_DIR"
        exec setsid "$SQSLOCAL_BIN" -addr "$BIND_HOST:$port" -region "$REGION"
      ) < /dev/null >> "$logf" 2>&1 9>&- &
      pid=$!
      ;;
  esac
  printf '%s\n' "$pid" > "$(pid_file "$name")"
  printf '%s\n' "$port" > "$(port_file "$name")"
}

# wait_ready NAME: 0 when it answers, 1 if it died or timed out.
wait_ready() {
  local name=$1 port pid deadline
  port="$(engine_port "$name")"
  pid="$(read_file "$(pid_file "$name")")"
  deadline=$(($(now_ms) + START_TIMEOUT * 1000))
  while (($(now_ms) < deadline)); do
    if ! is_alive "$pid"; then
      return 1
    fi
    if probe "$name" "$port"; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

show_log_tail() {
  local logf
  logf="$(log_file "$1")"
  log "---- last lines of $logf ----"
  tail -n 30 "$logf" >&2 2>/dev/null || true
  log "----"
}

fixed_port() {
  case "$1" in
    kinesis-local) printf '%s' "${FLOWBUS_KINESIS_PORT:-}" ;;
    dynalite) printf '%s' "${FLOWBUS_DYNAMODB_PORT:-}" ;;
    sqslocal) printf '%s' "${FLOWBUS_SQS_PORT:-}" ;;
  esac
}

# launch_engine NAME: picks free loopback ports (or the fixed one, or the one
# it had before it was stopped or killed) and launches.
launch_engine() {
  local name=$1 fixed ports port tls_port
  fixed="$(fixed_port "$name")"
  PICKED[$name]=
  if [[ -z "$fixed" || "$fixed" == 0 ]]; then
    fixed="$(engine_port "$name")"
    [[ -n "$fixed" ]] || PICKED[$name]=1
  fi
  ports="$(free_ports 2)" || die "could not find free loopback ports"
  port="${ports%% *}"
  tls_port="${ports##* }"
  if [[ -n "$fixed" && "$fixed" != 0 ]]; then port="$fixed"; fi
  launch "$name" "$port" "$tls_port" || return 1
}

# await_engine NAME T0: waits until the launched engine answers; if its port was
# taken between picking and binding (only possible for picked ports), relaunches
# on other ports, up to 3 attempts in all.
await_engine() {
  local name=$1 t0=$2 attempt
  for attempt in 1 2 3; do
    if wait_ready "$name"; then
      log "$name ready on $(endpoint "$name") in $(($(now_ms) - t0)) ms (pid $(engine_pid "$name"))"
      return 0
    fi
    if [[ -n "${PICKED[$name]:-}" ]] && grep -qE 'EADDRINUSE|address already in use' "$(log_file "$name")" 2>/dev/null && ((attempt < 3)); then
      log "$name: port taken meanwhile, retrying on other ports"
      stop_engine "$name"
      rm -f "$(port_file "$name")"
      launch_engine "$name" || break
      continue
    fi
    break
  done
  log "$name did not come up (timeout ${START_TIMEOUT}s, or it exited)"
  show_log_tail "$name"
  return 1
}

env_lines() {
  cat <<EOF
export AWS_ENDPOINT_URL_KINESIS=$(endpoint kinesis-local)
export AWS_ENDPOINT_URL_DYNAMODB=$(endpoint dynalite)
export AWS_ENDPOINT_URL_SQS=$(endpoint sqslocal)
export AWS_REGION=$REGION
export AWS_DEFAULT_REGION=$REGION
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
EOF
}

all_running() {
  local name
  for name in "${ENGINES[@]}"; do
    [[ -n "$(engine_pid "$name")" ]] || return 1
  done
}

# Serialise start/stop between concurrent callers (e.g. parallel make targets).
with_lock() {
  mkdir -p "$RUN_DIR"
  if command -v flock >/dev/null 2>&1; then
    exec 9> "$RUN_DIR/.lock"
    flock -w "$((START_TIMEOUT * 2 + 30))" 9 || die "timed out waiting for $RUN_DIR/.lock"
  fi
}

# --- commands -----------------------------------------------------------------

cmd_start() {
  local t0 name started=()
  t0=$(now_ms)
  with_lock
  # An engine that runs but does not answer is replaced.
  for name in "${ENGINES[@]}"; do
    if [[ -n "$(engine_pid "$name")" ]] && ! probe "$name" "$(engine_port "$name")"; then
      log "$name runs but does not answer; restarting it"
      stop_engine "$name"
    fi
  done
  if all_running && [[ -f "$RUN_DIR/env" ]]; then
    cat "$RUN_DIR/env"
    return 0
  fi
  ensure_node_modules
  command -v curl >/dev/null 2>&1 || die "curl not found"
  # Launch every engine that is not running, then wait for them together.
  local other
  for name in "${ENGINES[@]}"; do
    if [[ -z "$(engine_pid "$name")" ]]; then
      started+=("$name")
      if ! launch_engine "$name"; then
        for other in "${started[@]}"; do stop_engine "$other"; done
        rm -f "$RUN_DIR/env"
        die "start failed"
      fi
    fi
  done
  for name in "${started[@]}"; do
    if ! await_engine "$name" "$t0"; then
      for other in "${started[@]}"; do stop_engine "$other"; done
      rm -f "$RUN_DIR/env"
      die "start failed"
    fi
  done
  env_lines > "$RUN_DIR/env.tmp"
  mv "$RUN_DIR/env.tmp" "$RUN_DIR/env"
  log "engines up in $(($(now_ms) - t0)) ms; env in $RUN_DIR/env"
  cat "$RUN_DIR/env"
}

cmd_stop() {
  local name
  with_lock
  rm -f "$RUN_DIR/env"
  for name in "${ENGINES[@]}"; do
    stop_engine "$name" &
  done
  wait
  for name in "${ENGINES[@]}"; do rm -f "$(port_file "$name")"; done
}

check_engine_name() {
  local name
  for name in "${ENGINES[@]}"; do
    [[ "$1" == "$name" ]] && return 0
  done
  printf 'unknown engine %q (one of: %s)\n' "$1" "${ENGINES[*]}" >&2
  exit 2
}

# cmd_restart_engine NAME: stop one engine and start it again on its port;
# prints the env lines, unchanged, as start does.
cmd_restart_engine() {
  local name=$1 t0
  check_engine_name "$name"
  t0=$(now_ms)
  with_lock
  [[ -n "$(engine_port "$name")" ]] || die "$name has no port yet: run $0 start"
  stop_engine "$name"
  ensure_node_modules
  launch_engine "$name" || die "restart of $name failed"
  await_engine "$name" "$t0" || die "restart of $name failed"
  cat "$RUN_DIR/env"
}

cmd_stop_engine() {
  check_engine_name "$1"
  with_lock
  stop_engine "$1"
}

cmd_kill_engine() {
  check_engine_name "$1"
  with_lock
  kill_engine "$1"
}

cmd_wipe_data() {
  local name
  with_lock
  for name in "${ENGINES[@]}"; do
    [[ -z "$(engine_pid "$name")" ]] || die "$name is running: stop the engines first"
  done
  rm -rf "$DATA_DIR"
  log "data removed: $DATA_DIR"
}

cmd_status() {
  local name pid rc=0
  for name in "${ENGINES[@]}"; do
    pid="$(engine_pid "$name")"
    if [[ -n "$pid" ]]; then
      if probe "$name" "$(engine_port "$name")"; then
        printf '%-14s running  pid %-7s %s\n' "$name" "$pid" "$(endpoint "$name")"
      else
        printf '%-14s running  pid %-7s %s (not answering)\n' "$name" "$pid" "$(endpoint "$name")"
        rc=3
      fi
    else
      printf '%-14s stopped\n' "$name"
      rc=3
    fi
  done
  return "$rc"
}

cmd_env() {
  if all_running && [[ -f "$RUN_DIR/env" ]]; then
    cat "$RUN_DIR/env"
  else
    log "engines are not running (run: $0 start)"
    return 3
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  env) cmd_env ;;
  wipe-data) cmd_wipe_data ;;
  restart-engine) cmd_restart_engine "${2:-}" ;;
  stop-engine) cmd_stop_engine "${2:-}" ;;
  kill-engine) cmd_kill_engine "${2:-}" ;;
  *)
    printf 'usage: %s start|stop|restart|status|env|wipe-data\n       %s restart-engine|stop-engine|kill-engine kinesis-local|dynalite|sqslocal\n' "$0" "$0" >&2
    exit 2
    ;;
esac
