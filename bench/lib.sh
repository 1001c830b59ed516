# The parts of Castellan's benchmarks that do not depend on a workload: logging, clean-up of
# the server, its PostgreSQL database and the scratch directory, starting the server and
# waiting for /healthz, GraphQL requests with curl, wrk runs with the CPU they took, callgrind
# counts, and reading wrk's figures. Sourced by bench/run.sh (and by any other bench script)
# after it has set ROOT, BENCH, BIN, DATABASE_URL's parts (PGHOST, PGPORT, PGUSER), THREADS,
# CONNECTIONS, DURATION, JWT_SECRET_VALUE and API_TOKEN_SALT_VALUE.
# shellcheck shell=bash

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- clean-up (always) --
WORK=$(mktemp -d "${TMPDIR:-/tmp}/castellan-bench.XXXXXX")
SERVER_PID=""
PG_DB=""
BG_PIDS=()

stop_server() {
  local pid=$SERVER_PID
  SERVER_PID=""
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq "${STOP_TENTHS:-50}"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${BG_PIDS[@]}"; do # a background run_wrk: its wrk, then itself
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  stop_server
  if [[ -n $PG_DB ]]; then
    psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -qAt \
      -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 \
      || log "could not drop PostgreSQL database $PG_DB"
    PG_DB=""
  fi
  exec 8>&- 2>/dev/null || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ------------------------------------------------------------------------- helpers --
# Integer microseconds of $EPOCHREALTIME.
now_us() { local t=$EPOCHREALTIME; echo $(( ${t%.*} * 1000000 + 10#${t#*.} )); }

# Fork-free short sleep: a read with timeout on a FIFO nobody writes to.
mkfifo "$WORK/sleep.fifo"
exec 8<>"$WORK/sleep.fifo"
nap() { read -r -t "$1" -u 8 _ || true; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

is_alive() { # true while the process runs (a zombie counts as dead)
  local state
  [[ -r /proc/$1/stat ]] || return 1
  read -r _ _ state _ <"/proc/$1/stat" || return 1
  [[ $state != Z && $state != X ]]
}

proc_kib() { # proc_kib PID VmRSS|VmHWM -> KiB
  awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# Server environment, for `serve` and for the CLI commands run against the same database.
server_env() {
  env DATABASE_URL="$DATABASE_URL" JWT_SECRET="$JWT_SECRET_VALUE" \
    API_TOKEN_SALT="$API_TOKEN_SALT_VALUE" CASTELLAN_ENV=production RUST_LOG=warn "$@"
}

SERVER_WRAP=() # a command the server runs under (valgrind, for CALLGRIND)

# start_server DIR PORT LOG: starts the server, waits for GET /healthz; sets SERVER_PID, STARTUP_MS.
start_server() {
  local dir=$1 port=$2 logfile=$3 t0 t1 line ok=""
  # Rate limits would refuse the load generator: switched off for the benchmark.
  printf '[rateLimit]\nenabled = false\n%s' "${EXTRA_TOML:-}" >"$dir/castellan.toml"
  t0=$(now_us)
  (cd "$dir" && exec env DATABASE_URL="$DATABASE_URL" JWT_SECRET="$JWT_SECRET_VALUE" \
      API_TOKEN_SALT="$API_TOKEN_SALT_VALUE" CASTELLAN_ENV=production RUST_LOG=warn \
      "${SERVER_WRAP[@]}" "$BIN" serve --host 127.0.0.1 --port "$port" 8>&-) >>"$logfile" 2>&1 &
  SERVER_PID=$!
  # Tight, fork-free poll: connect with bash's /dev/tcp, send GET /healthz, read the status
  # line; 1 ms pause between attempts.
  while :; do
    if { exec 7<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
      printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&7 || true
      if IFS= read -r -t 5 line <&7 && [[ $line == HTTP/1.?' 200'* ]]; then ok=1; fi
      exec 7>&-
      [[ -n $ok ]] && break
    fi
    t1=$(now_us)
    is_alive "$SERVER_PID" || { tail -n 20 "$logfile" >&2; die "the server exited during start-up"; }
    (( t1 - t0 < 60000000 )) || die "no answer on /healthz within 60 s"
    nap 0.001
  done
  t1=$(now_us)
  STARTUP_MS=$(awk -v d=$(( t1 - t0 )) 'BEGIN { printf "%.1f", d / 1000 }')
}

# gql TOKEN QUERY [VARIABLES_JSON] -> the JSON answer on stdout
gql() {
  local token=$1 query=$2 vars=${3:-null} auth=()
  [[ -n $token ]] && auth=(-H "Authorization: Bearer $token")
  jq -cn --arg q "$query" --argjson v "$vars" '{query: $q, variables: $v}' |
    curl -sS --max-time 60 "$URL" -H 'Content-Type: application/json' "${auth[@]}" --data-binary @-
}

# gql_ok TOKEN QUERY [VARIABLES_JSON]: like gql, but fails on GraphQL errors
gql_ok() {
  local out
  out=$(gql "$@") || die "request failed: $2"
  if ! jq -e '(.errors // []) | length == 0' >/dev/null <<<"$out"; then
    die "GraphQL errors for: $2 -> $out"
  fi
  printf '%s\n' "$out"
}

# body FILE QUERY [VARIABLES_JSON]: writes a GraphQL request body for wrk
body() { jq -cn --arg q "$2" --argjson v "${3:-null}" '{query: $q, variables: $v}' >"$1"; }

# cpu_ticks: "SERVER POSTGRES BUSY STEAL ALL", CPU clock ticks used so far by the server, by
# every PostgreSQL process, by the whole machine (every state but idle, iowait and steal), taken
# by the host from this virtual machine (steal), and counted in all
cpu_ticks() {
  local server=0 pg=0 pid machine
  [[ -n $SERVER_PID ]] && server=$(proc_ticks "$SERVER_PID")
  for pid in $(pgrep -x postgres || true); do pg=$(( pg + $(proc_ticks "$pid") )); done
  machine=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat)
  echo "$server $pg $machine"
}
# proc_ticks PID: user + system ticks of one process (0 once it is gone); the fields after the
# command name, which may hold spaces, are counted from its closing parenthesis
proc_ticks() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  awk '{ print $12 + $13 }' <<<"${stat##*) }"
}

# run_wrk NAME BODY_FILE TOKEN [URL] [METHOD]: runs wrk in the foreground (POST of BODY_FILE to
# /graphql, or METHOD, e.g. GET without a body, on URL), leaves $WORK/wrk-NAME.txt, and
# the CPU the run took per request (server, PostgreSQL, the rest: wrk and the kernel's
# softirqs) and the share of the machine's time the host stole, in $WORK/cpu-NAME.txt
# (WRK_SCRIPT, WRK_THREADS and WRK_CONNECTIONS override the script and its load.)
run_wrk() {
  local name=$1 bodyfile=$2 token=$3 url=${4:-$URL} method=${5:-POST} perf_pid="" before after
  before=$(cpu_ticks)
  WRK_BODY_FILE=$bodyfile WRK_TOKEN=$token WRK_METHOD=$method wrk -t "${WRK_THREADS:-$THREADS}" \
    -c "${WRK_CONNECTIONS:-$CONNECTIONS}" -d "${DURATION}s" --timeout 10s \
    -s "${WRK_SCRIPT:-$BENCH/graphql.lua}" "$url" >"$WORK/wrk-$name.txt" 2>&1 \
    || { cat "$WORK/wrk-$name.txt" >&2; die "wrk failed ($name)"; }
  after=$(cpu_ticks)
  local hz requests
  hz=$(getconf CLK_TCK)
  requests=$(sed -n 's/^BENCH .*\<requests=\([0-9]*\).*/\1/p' "$WORK/wrk-$name.txt")
  awk -v b="$before" -v a="$after" -v hz="$hz" -v n="${requests:-0}" 'BEGIN {
        split(b, x); split(a, y); if (n <= 0) exit
        us = 1e6 / hz / n; s = (y[1] - x[1]) * us; p = (y[2] - x[2]) * us; t = (y[3] - x[3]) * us
        all = y[5] - x[5]; steal = all > 0 ? 100 * (y[4] - x[4]) / all : 0
        printf "server=%.0f postgres=%.0f rest=%.0f total=%.0f steal=%.1f\n", s, p, t - s - p, t, steal }' \
    >"$WORK/cpu-$name.txt"
  # The profile comes from a second run of the same load, so that sampling does not slow the
  # run whose figures are reported.
  if [[ -n ${PROFILE:-} && $name == *-"$PROFILE" ]]; then
    command -v perf >/dev/null || die "PROFILE needs perf (Debian: linux-perf)"
    perf record -q -F 999 -e cpu-clock -p "$SERVER_PID" -o "$WORK/perf-$name.data" 2>>"$WORK/perf.log" &
    perf_pid=$!
    WRK_BODY_FILE=$bodyfile WRK_TOKEN=$token WRK_METHOD=$method wrk -t "$THREADS" -c "$CONNECTIONS" \
      -d "${DURATION}s" --timeout 10s -s "$BENCH/graphql.lua" "$url" >"$WORK/wrk-$name-profiled.txt" 2>&1 \
      || { cat "$WORK/wrk-$name-profiled.txt" >&2; die "wrk failed ($name, profiled)"; }
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    perf report -q -i "$WORK/perf-$name.data" --stdio --no-children --sort dso,symbol \
      >"$WORK/perf-$name.txt" 2>>"$WORK/perf.log" || die "perf report failed: $(tail -n 3 "$WORK/perf.log")"
    {
      echo "# perf profile of the server during workload $name ($(date -u '+%F %T') UTC, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
      echo "# share of samples: SQLite (C code in the binary), Castellan and its Rust crates, the kernel, libc"
      awk 'NF { p = $1; sub("%", "", p)
                if ($2 == "castellan") { if ($0 ~ /::|[<{]/) rust += p; else c += p }
                else if ($2 ~ /kernel/) k += p; else if ($2 ~ /libc/) l += p }
           END { printf "# SQLite %.1f%%, Rust %.1f%%, kernel %.1f%%, libc (malloc, locks) %.1f%%\n", c, rust, k, l }' \
        "$WORK/perf-$name.txt"
      awk 'NF && ++n <= 60 { sub(/ +- +- *$/, ""); sub(/ +$/, ""); print }' "$WORK/perf-$name.txt"
    } >"$BENCH/profile-$name.txt"
    log "[$name] perf profile of the server: bench/profile-$name.txt"
  fi
  grep -q '^BENCH ' "$WORK/wrk-$name.txt" || { cat "$WORK/wrk-$name.txt" >&2; die "no result from wrk ($name)"; }
}

# count_instructions BACKEND WORKLOAD BODY_FILE TOKEN: restarts the server under callgrind
# (instrumentation off until the load starts), runs the workload with 2 connections for
# CG_SECONDS, and writes the instructions per request and the top functions to
# bench/callgrind-BACKEND-WORKLOAD.txt; then starts the server as before. Uses `dir` and `port`
# of bench_backend.
count_instructions() {
  local b=$1 w=$2 bodyfile=$3 token=$4 out=$WORK/callgrind-$1-$2.out requests total
  command -v valgrind >/dev/null || die "CALLGRIND needs valgrind (Debian: valgrind)"
  stop_server
  SERVER_WRAP=(valgrind --tool=callgrind --instr-atstart=no "--callgrind-out-file=$out")
  start_server "$dir" "$port" "$dir/server-callgrind.log"
  SERVER_WRAP=()
  callgrind_control -i on "$SERVER_PID" >/dev/null
  WRK_BODY_FILE=$bodyfile WRK_TOKEN=$token wrk -t 1 -c 2 -d "${CG_SECONDS:-20}s" --timeout 30s \
    -s "$BENCH/graphql.lua" "$URL" >"$WORK/wrk-cg-$b-$w.txt" 2>&1 || die "wrk failed (callgrind $b-$w)"
  callgrind_control -i off "$SERVER_PID" >/dev/null
  STOP_TENTHS=600 stop_server # callgrind writes its counts as the server exits: up to 60 s
  requests=$(field "cg-$b-$w" requests)
  total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
  [[ -n $total && $requests -gt 0 ]] || die "callgrind counted nothing ($b-$w)"
  {
    echo "# callgrind: instructions of the server per request of workload ($w) on $b ($(date -u '+%F %T') UTC, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
    echo "# $requests requests, $total instructions: $(( total / requests )) per request"
    echo "# self cost of the top functions (callgrind_annotate):"
    callgrind_annotate "$out" 2>/dev/null | awk '/^-+$/ { rule++; next } rule == 6 && NF && ++n <= 40' | cut -c1-200
  } >"$BENCH/callgrind-$b-$w.txt"
  if [[ -n ${CALLGRIND_KEEP:-} ]]; then
    mkdir -p "$CALLGRIND_KEEP" && cp "$out" "$CALLGRIND_KEEP/"
  fi
  log "[$b] callgrind ($w): $(( total / requests )) instructions per request: bench/callgrind-$b-$w.txt"
  start_server "$dir" "$port" "$dir/server.log"
}

# keep_better NAME: of the runs NAME-1 and NAME-2, the one with more requests/s becomes NAME
keep_better() {
  local best=1
  awk -v a="$(field "$1-1" rps)" -v b="$(field "$1-2" rps)" 'BEGIN { exit !(b + 0 > a + 0) }' && best=2
  cp "$WORK/wrk-$1-$best.txt" "$WORK/wrk-$1.txt"
  cp "$WORK/cpu-$1-$best.txt" "$WORK/cpu-$1.txt" 2>/dev/null || true
}

# field NAME KEY: a value of the BENCH line of a wrk run
field() { sed -n "s/^BENCH .*\<$2=\([^ ]*\).*/\1/p" "$WORK/wrk-$1.txt"; }

errors_of() { # total wrk errors (non-2xx, socket errors, timeouts) of a run
  local n=0 k
  for k in non2xx connect_err read_err write_err timeouts; do n=$(( n + $(field "$1" "$k") )); done
  echo "$n"
}

# Results, as R[backend.key]=value
declare -A R

summarize_wrk() { # summarize_wrk BACKEND WORKLOAD LABEL: reads $WORK/wrk-BACKEND-WORKLOAD.txt
  local b=$1 w=$2 n=$1-$2
  R[$b.$w.rps]=$(field "$n" rps)
  R[$b.$w.p50]=$(field "$n" p50_ms)
  R[$b.$w.p99]=$(field "$n" p99_ms)
  R[$b.$w.err]=$(errors_of "$n")
  R[$b.$w.cpu]=$(sed -n 's/^server=\([0-9]*\) postgres=\([0-9]*\) rest=\(-*[0-9]*\) .*/\1 \/ \2 \/ \3/p' "$WORK/cpu-$n.txt" 2>/dev/null)
  R[$b.$w.steal]=$(sed -n 's/.* steal=\([0-9.]*\).*/\1/p' "$WORK/cpu-$n.txt" 2>/dev/null)
  log "[$b] $3: ${R[$b.$w.rps]} req/s, p50 ${R[$b.$w.p50]} ms, p99 ${R[$b.$w.p99]} ms, errors ${R[$b.$w.err]}, steal ${R[$b.$w.steal]:-?} %"
}
