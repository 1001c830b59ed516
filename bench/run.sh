#!/usr/bin/env bash
# Castellan load benchmark.
#
#   bash bench/run.sh                 # from the repository root
#   DURATION=30 bash bench/run.sh     # seconds per workload (default 10)
#   BENCH_NOTE="…" bash bench/run.sh  # a line put at the top of bench/results.md
#   BACKENDS="sqlite" bash bench/run.sh   # only some backends (default: "sqlite postgres")
#   SKIP_BUILD=1 bash bench/run.sh    # use target/release/castellan as it is (noted in the results)
#   CASTELLAN_BIN=/path/castellan RESULTS=/tmp/other.md bash bench/run.sh
#                                     # measure another build (another commit), written elsewhere
#   PROFILE=b bash bench/run.sh       # also sample the server with `perf` during a second, unreported
#                                     # run of workload (b) (or a, c, d, f); the top functions go to
#                                     # bench/profile-BACKEND-b.txt
#   CALLGRIND=b bash bench/run.sh     # also count the server's instructions per request of (b)
#                                     # (or a, c) under valgrind's callgrind, which repeats exactly on
#                                     # a noisy machine: bench/callgrind-BACKEND-b.txt
#   CALLGRIND="a b c" CALLGRIND_ONLY=1 bash bench/run.sh
#                                     # only the counts of several workloads: no load, no table
#   REFRESH_CONNECTIONS=8 bash bench/run.sh
#                                     # sessions (wrk threads, one connection each) of workload (h)
#   CALLGRIND=b CALLGRIND_KEEP=/tmp/cg bash bench/run.sh
#                                     # also keep callgrind's own files there, for callgrind_annotate
#                                     # --inclusive=yes or kcachegrind
#
# Needs: cargo, curl, jq, python3, psql, a PostgreSQL server at 127.0.0.1:5432 where the user
# `postgres` may create databases without a password (PGHOST/PGPORT/PGUSER override it; a PGHOST
# that starts with / is the directory of PostgreSQL's Unix socket), and wrk
# (installed from Debian when missing). Builds target/release/castellan, then for each backend
# starts the server on a fresh database, seeds it over GraphQL, loads it with wrk
# (2 threads, 32 connections) and prints a table, also written to bench/results.md.
set -Eeuo pipefail
export LC_ALL=C

DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
REFRESH_CONNECTIONS=${REFRESH_CONNECTIONS:-8}
BACKENDS=${BACKENDS:-"sqlite postgres"}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
USERS=25                       # seeded users: user00 (plain), user01..user24 (team red)
PASSWORD='bench-password-123'
JWT_SECRET_VALUE='castellan-bench-jwt-secret-0123456789abcdefghijk' # 48 characters
API_TOKEN_SALT_VALUE='castellan-bench-api-token-salt-0123456789abcdef'
BCRYPT_HASHES=${BCRYPT_HASHES:-20}  # per process, for the raw bcrypt rate

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BIN=${CASTELLAN_BIN:-$ROOT/target/release/castellan}
[[ -z ${CASTELLAN_BIN:-} ]] || SKIP_BUILD=1
RESULTS=${RESULTS:-$BENCH/results.md}
cd "$ROOT"

# Helpers shared by the bench scripts (clean-up trap, server start, wrk, callgrind).
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

# ------------------------------------------------------------ 1. the load generator --
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO=sudo
if ! command -v wrk >/dev/null; then
  log "installing wrk from Debian"
  $SUDO apt-get install -y wrk >/dev/null \
    || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk >/dev/null; } \
    || die "could not install wrk"
fi
for tool in curl jq python3 psql cargo; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
if ! python3 -c 'import bcrypt' 2>/dev/null; then
  log "installing the bcrypt package (pyca/bcrypt) from PyPI for the reference rate"
  python3 -m pip install --quiet bcrypt || die "could not install the Python bcrypt package"
fi

RUN_START=$(now_us)
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------------ 2. build --
BUILD_T0=$(now_us)
if [[ -n ${SKIP_BUILD:-} ]]; then
  [[ -x $BIN ]] || die "SKIP_BUILD is set but $BIN does not exist"
  BUILD_NOTE="not rebuilt (SKIP_BUILD): binary of $(date -u -r "$BIN" '+%Y-%m-%d %H:%M:%S UTC')"
  log "release build skipped: $BUILD_NOTE"
else
  log "cargo build --release --locked"
  cargo build --release --locked >&2 || die "the release build failed"
  BUILD_NOTE="cargo build --release --locked"
fi
BUILD_S=$(( ($(now_us) - BUILD_T0) / 1000000 ))
[[ -x $BIN ]] || die "$BIN is missing after the build"

# ------------------------------------------------ the machine's raw bcrypt rate --
NPROC=$(nproc)
[[ -z ${CALLGRIND_ONLY:-} ]] || BCRYPT_HASHES=1 # no table: the reference rate is not reported
log "raw bcrypt rate: $NPROC processes x $BCRYPT_HASHES hashes at cost 10 (pyca/bcrypt)"
BCRYPT_VERSION=$(python3 -c 'import bcrypt; print(bcrypt.__version__)')
# What the package is built on: since 4.0 pyca/bcrypt is a Rust extension over the `bcrypt`
# crate (the C implementation is gone); name the crate version found in the extension.
BCRYPT_IMPL=$(python3 - <<'PY'
import glob, os, re, bcrypt
found = set()
for so in glob.glob(os.path.join(os.path.dirname(bcrypt.__file__), "_bcrypt*")):
    found |= set(re.findall(rb"bcrypt-(\d+\.\d+\.\d+)", open(so, "rb").read()))
print("a Rust extension on the bcrypt crate " + ", ".join(sorted(v.decode() for v in found))
      if found else "implementation not identified")
PY
)
CASTELLAN_BCRYPT=$(awk '/^name = "bcrypt"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
for i in $(seq "$NPROC"); do
  python3 "$BENCH/bcrypt_rate.py" "$BCRYPT_HASHES" 10 >"$WORK/bcrypt-$i.txt" &
  BG_PIDS+=($!)
done
wait "${BG_PIDS[@]}"
BG_PIDS=()
# Each process timed its own hashes; they ran at the same time, one per core.
RAW_RATE=$(cat "$WORK"/bcrypt-*.txt | awk -v n="$BCRYPT_HASHES" '{ r += n / $1; t += $1; c++ } END { printf "%.1f", r }')
BCRYPT_MS=$(cat "$WORK"/bcrypt-*.txt | awk -v n="$BCRYPT_HASHES" '{ t += $1; c++ } END { printf "%.1f", 1000 * t / c / n }')
log "  one cost-10 hash: $BCRYPT_MS ms with every core busy; raw rate $RAW_RATE hashes/s"

# ------------------------------------------------------------------- 3-5. backends --
bench_backend() {
  local b=$1 dir port i out
  dir=$WORK/$b
  mkdir -p "$dir"
  port=$(free_port)
  URL="http://127.0.0.1:$port/graphql"
  case $b in
    sqlite)
      DATABASE_URL="sqlite://$dir/castellan.db" ;;
    postgres)
      PG_DB="castellan_bench_$$_$RANDOM"
      psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -v ON_ERROR_STOP=1 -qAt \
        -c "CREATE DATABASE \"$PG_DB\"" >/dev/null || die "could not create database $PG_DB"
      if [[ $PGHOST == /* ]]; then # a directory: PostgreSQL's Unix socket in it
        DATABASE_URL="postgres://$PGUSER@/$PG_DB?host=$PGHOST&port=$PGPORT"
      else
        DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$PG_DB"
      fi ;;
  esac
  log "[$b] database: $DATABASE_URL"

  # Start-up: first on the empty database (runs the migrations and seeds the roles),
  # then again on the now existing one; the second server stays up for the workloads.
  start_server "$dir" "$port" "$dir/server.log"
  R[$b.start_fresh]=$STARTUP_MS
  stop_server
  start_server "$dir" "$port" "$dir/server.log"
  R[$b.start]=$STARTUP_MS
  log "[$b] start-up to the first answered /healthz: ${R[$b.start_fresh]} ms (empty database), ${R[$b.start]} ms (restart)"
  sleep 1
  R[$b.rss_idle]=$(proc_kib "$SERVER_PID" VmRSS)
  log "[$b] idle RSS: $(mib "${R[$b.rss_idle]}") MiB"

  # ---- seed ----
  log "[$b] seeding $USERS users"
  declare -a JWTS IDS
  for i in $(seq 0 $((USERS - 1))); do
    local name
    name=$(printf 'user%02d' "$i")
    out=$(gql_ok "" 'mutation($u: String!, $e: String!, $p: String!) {
        register(input: {username: $u, email: $e, password: $p}) { jwt user { id } } }' \
      "$(jq -cn --arg u "$name" --arg e "$name@bench.example.com" --arg p "$PASSWORD" '{u: $u, e: $e, p: $p}')")
    JWTS[i]=$(jq -r '.data.register.jwt' <<<"$out")
    IDS[i]=$(jq -r '.data.register.user.id' <<<"$out")
  done
  local admin
  admin=$(cd "$dir" && server_env "$BIN" token create --name bench --type full-access 2>>"$dir/cli.log" \
    | grep -o 'cst_[A-Za-z0-9_-]*' | head -n1) || true
  [[ -n $admin ]] || { cat "$dir/cli.log" >&2; die "castellan token create printed no key"; }
  gql_ok "$admin" 'mutation($q: JSON!) {
      createUsersPermissionsCondition(data: {name: "bench-same-team", displayName: "Same team (bench)", query: $q}) { name } }' \
    '{"q": {"attributes.team": "$user.attributes.team"}}' >/dev/null
  # A role of its own for the red team: `me`, and `user.find` under the same-team condition.
  gql_ok "$admin" 'mutation { createUsersPermissionsRole(data: {name: "Bench team", type: "bench-team", grants: [
      {action: "plugin::users-permissions.user.me"},
      {action: "plugin::users-permissions.user.find", conditions: ["bench-same-team"]}]}) { ok } }' >/dev/null
  local role_id
  role_id=$(gql_ok "$admin" '{ usersPermissionsRoles(pagination: {pageSize: 100}) { id type } }' \
    | jq -r '.data.usersPermissionsRoles[] | select(.type == "bench-team") | .id')
  [[ -n $role_id ]] || die "the bench-team role was not created"
  for i in $(seq 1 $((USERS - 1))); do
    gql_ok "$admin" 'mutation($id: ID!, $role: ID!) {
        updateUsersPermissionsUser(id: $id, data: {role: $role, attributes: {team: "red"}}) { data { id } } }' \
      "$(jq -cn --arg id "${IDS[i]}" --arg r "$role_id" '{id: $id, role: $r}')" >/dev/null
  done

  # ---- the workloads' requests, each checked once with curl ----
  local q_me='query { me { id username email } }'
  local q_team='query { usersPermissionsUsers(pagination: {pageSize: 20}) { id username } }'
  local q_public='query { usersPermissionsUsers { id } }'
  local q_login='mutation($i: String!, $p: String!) { login(input: {identifier: $i, password: $p}) { jwt } }'
  local v_login
  v_login=$(jq -cn --arg i "user00@bench.example.com" --arg p "$PASSWORD" '{i: $i, p: $p}')
  body "$WORK/me.json" "$q_me"
  body "$WORK/team.json" "$q_team"
  body "$WORK/public.json" "$q_public"
  body "$WORK/login.json" "$q_login" "$v_login"

  out=$(gql_ok "${JWTS[0]}" "$q_me")
  [[ $(jq -r '.data.me.username' <<<"$out") == user00 ]] || die "(a) me answered: $out"
  out=$(gql_ok "${JWTS[1]}" "$q_team")
  [[ $(jq '.data.usersPermissionsUsers | length' <<<"$out") == 20 ]] || die "(b) answered: $out"
  out=$(gql_ok "${JWTS[1]}" 'query { usersPermissionsUsers(pagination: {pageSize: 100}) { id } }')
  [[ $(jq '.data.usersPermissionsUsers | length' <<<"$out") == $((USERS - 1)) ]] \
    || die "(b) the condition does not restrict the list to the red team: $out"
  out=$(gql "" "$q_public")
  [[ $(jq -r '.errors[0].extensions.code' <<<"$out") == FORBIDDEN ]] || die "(c) answered: $out"
  out=$(gql_ok "" "$q_login" "$v_login")
  [[ $(jq -r '.data.login.jwt' <<<"$out") == ey* ]] || die "(d) answered: $out"
  log "[$b] checked: (a) me, (b) 20 rows of the red team (24 in all) and no errors, (c) FORBIDDEN, (d) a JWT"

  local w
  for w in ${CALLGRIND:-}; do
    case $w in
      a) count_instructions "$b" a "$WORK/me.json" "${JWTS[0]}" ;;
      b) count_instructions "$b" b "$WORK/team.json" "${JWTS[1]}" ;;
      c) count_instructions "$b" c "$WORK/public.json" "" ;;
      *) die "CALLGRIND lists a, b or c" ;;
    esac
  done
  # Only the counts (a binary built before the REST routes can be counted too).
  [[ -z ${CALLGRIND_ONLY:-} ]] || { stop_server; return 0; }

  local rest_me="http://127.0.0.1:$port/api/users/me"
  out=$(curl -sS --max-time 60 "$rest_me" -H "Authorization: Bearer ${JWTS[0]}")
  [[ $(jq -r '.username' <<<"$out") == user00 ]] || die "(f) GET /api/users/me answered: $out"
  log "[$b] checked: (f) me over REST"

  # ---- load ----
  log "[$b] (a) me, ${DURATION}s"
  run_wrk "$b-a" "$WORK/me.json" "${JWTS[0]}"
  summarize_wrk "$b" a "(a) me"
  log "[$b] (b) users of the same team, ${DURATION}s"
  run_wrk "$b-b" "$WORK/team.json" "${JWTS[1]}"
  summarize_wrk "$b" b "(b) team list"
  log "[$b] (c) refused public query, ${DURATION}s"
  run_wrk "$b-c" "$WORK/public.json" ""
  summarize_wrk "$b" c "(c) refused"
  log "[$b] (d) login, ${DURATION}s"
  run_wrk "$b-d" "$WORK/login.json" ""
  summarize_wrk "$b" d "(d) login"
  log "[$b] (e) (a) and (d) at once, ${DURATION}s"
  run_wrk "$b-ed" "$WORK/login.json" "" &
  BG_PIDS+=($!)
  run_wrk "$b-ea" "$WORK/me.json" "${JWTS[0]}"
  wait "${BG_PIDS[@]}" || die "wrk (e, login) failed"
  BG_PIDS=()
  summarize_wrk "$b" ea "(e) me during logins"
  summarize_wrk "$b" ed "(e) logins during me"
  log "[$b] (f) GET /api/users/me (REST), ${DURATION}s"
  run_wrk "$b-f" "" "${JWTS[0]}" "$rest_me" GET
  summarize_wrk "$b" f "(f) REST me"

  R[$b.rss_peak]=$(proc_kib "$SERVER_PID" VmHWM)
  log "[$b] peak RSS: $(mib "${R[$b.rss_peak]}") MiB"

  # ---- refresh mode (jwt.management = "refresh"), the same database, a new server ----
  stop_server
  EXTRA_TOML=$'[jwt]\nmanagement = "refresh"\n' start_server "$dir" "$port" "$dir/server.log"
  local login_url="http://127.0.0.1:$port/api/auth/local" refresh_url="http://127.0.0.1:$port/api/auth/refresh"
  local session_jwt first
  rest_login() {
    curl -sS --max-time 60 "$login_url" -H 'Content-Type: application/json' \
      --data-binary "$(jq -cn --arg i "$1" --arg p "$PASSWORD" '{identifier: $i, password: $p}')"
  }
  out=$(rest_login user00)
  session_jwt=$(jq -r '.jwt' <<<"$out")
  first=$(jq -r '.refreshToken' <<<"$out")
  [[ $session_jwt == ey* && -n $first && $first != null ]] || die "(g) login in refresh mode answered: $out"
  out=$(gql_ok "$session_jwt" "$q_me")
  [[ $(jq -r '.data.me.username' <<<"$out") == user00 ]] || die "(g) me answered: $out"
  out=$(curl -sS --max-time 60 "$refresh_url" -H 'Content-Type: application/json' \
    --data-binary "$(jq -cn --arg t "$first" '{refreshToken: $t}')")
  [[ $(jq -r '.refreshToken' <<<"$out") != "$first" && $(jq -r '.jwt' <<<"$out") == ey* ]] \
    || die "(h) refresh answered: $out"
  : >"$WORK/refresh-tokens.txt"
  for i in $(seq "$REFRESH_CONNECTIONS"); do
    rest_login "$(printf 'user%02d' $(( i % USERS )))" | jq -r '.refreshToken' >>"$WORK/refresh-tokens.txt"
  done
  log "[$b] checked: refresh mode: (g) me with a session JWT, (h) a refresh; $REFRESH_CONNECTIONS sessions for (h)"
  # (a') and (g) alternate twice; each keeps its better run, so that a disturbance of the
  # machine during one run does not decide the comparison.
  local round
  for round in 1 2; do
    log "[$b] (a') me with a legacy JWT, refresh-mode server, ${DURATION}s (round $round)"
    run_wrk "$b-a2-$round" "$WORK/me.json" "${JWTS[0]}"
    log "[$b] (g) me with a session-bound JWT, ${DURATION}s (round $round)"
    run_wrk "$b-g-$round" "$WORK/me.json" "$session_jwt"
  done
  keep_better "$b-a2"
  keep_better "$b-g"
  summarize_wrk "$b" a2 "(a') me, legacy JWT, refresh mode (better of 2)"
  summarize_wrk "$b" g "(g) me, session JWT (better of 2)"
  log "[$b] (h) POST /api/auth/refresh, $REFRESH_CONNECTIONS sessions, ${DURATION}s"
  WRK_SCRIPT=$BENCH/refresh.lua WRK_THREADS=$REFRESH_CONNECTIONS WRK_CONNECTIONS=$REFRESH_CONNECTIONS \
    WRK_TOKENS_FILE=$WORK/refresh-tokens.txt run_wrk "$b-h" "" "" "$refresh_url"
  summarize_wrk "$b" h "(h) refresh"
  if grep -qiE 'error|panic' "$dir/server.log"; then
    log "[$b] the server logged errors:"; grep -iE 'error|panic' "$dir/server.log" | tail -n 5 >&2
  fi
  stop_server
  if [[ $b == postgres ]]; then
    psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -qAt \
      -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null && PG_DB=""
  fi
}

for b in $BACKENDS; do
  case $b in sqlite | postgres) bench_backend "$b" ;; *) die "unknown backend $b" ;; esac
done
if [[ -n ${CALLGRIND_ONLY:-} ]]; then
  for b in $BACKENDS; do
    for w in $CALLGRIND; do
      echo "$b ($w): $(sed -n 's/^# .*: \([0-9]*\) per request$/\1/p' "$BENCH/callgrind-$b-$w.txt") instructions per request"
    done
  done
  exit 0
fi

# ------------------------------------------------------------------------ 6. report --
# verdict VALUE OP LIMIT -> "met" / "not met"
verdict() {
  awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
    ok = (op == ">=") ? (v + 0 >= l + 0) : (v + 0 <= l + 0); print (ok ? "met" : "not met") }'
}
num() { awk -v v="$1" 'BEGIN { printf (v >= 100 ? "%.0f" : "%.2f"), v }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b > 0 ? 100 * a / b : 0) }'; }

CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=""
[[ -n $(git -C "$ROOT" status --porcelain -- src tests Cargo.toml Cargo.lock migrations 2>/dev/null) ]] \
  && DIRTY=" (with uncommitted changes in src/tests)"
RUN_S=$(( ($(now_us) - RUN_START) / 1000000 ))

report() {
  [[ -n ${BENCH_NOTE:-} ]] && printf '> **%s**\n\n' "$BENCH_NOTE"
  echo "# Castellan benchmark"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  if [[ -n ${CASTELLAN_BIN:-} ]]; then
    echo "- Binary: \`$CASTELLAN_BIN\` (CASTELLAN_BIN; the repository is at $COMMIT$DIRTY)"
  else
    echo "- Commit: $COMMIT$DIRTY"
  fi
  echo "- uname -a: \`$(uname -a)\`"
  echo "- nproc: $NPROC; CPU: $CPU_MODEL"
  echo "- Load average when the run started: $LOADAVG_START"
  echo "- wrk: $THREADS threads, $CONNECTIONS connections, ${DURATION}s per workload; (e) runs two such wrk at once"
  echo "- Server: \`target/release/castellan serve\`, CASTELLAN_ENV=production, RUST_LOG=warn, bcrypt cost 10, default pool sizes"
  if [[ " $BACKENDS " == *" postgres "* ]]; then
    if [[ $PGHOST == /* ]]; then
      echo "- PostgreSQL $(psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -qAtc 'SHOW server_version' 2>/dev/null), reached through its Unix socket in $PGHOST"
    else
      echo "- PostgreSQL $(psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -qAtc 'SHOW server_version' 2>/dev/null), reached over TCP at $PGHOST:$PGPORT"
    fi
  fi
  echo "- Raw bcrypt rate: $NPROC processes hashing $BCRYPT_HASHES passwords each at cost 10 at the same time with"
  echo "  pyca/bcrypt $BCRYPT_VERSION (the \`bcrypt\` package of PyPI; $BCRYPT_IMPL — Castellan uses the crate $CASTELLAN_BCRYPT):"
  echo "  $BCRYPT_MS ms per hash with every core busy, **$RAW_RATE hashes/s** on $NPROC cores"
  echo "- Release binary: $BUILD_NOTE (${BUILD_S}s); whole run: ${RUN_S}s"
  echo
  local head="| Workload | Metric | Target |" sep="|---|---|---|" b
  for b in $BACKENDS; do
    case $b in sqlite) head+=" SQLite | |" ;; postgres) head+=" PostgreSQL | |" ;; esac
    sep+="---:|---|"
  done
  echo "$head"
  echo "$sep"
  row() { # row WORKLOAD METRIC TARGET KEY OP LIMIT [FORMAT]
    local line="| $1 | $2 | $3 |" v
    for b in $BACKENDS; do
      v=${R[$b.$4]:-}
      if [[ -z $v ]]; then line+=" – | |"; continue; fi
      case ${7:-num} in
        num) line+=" $(num "$v") |" ;;
        mib) line+=" $(mib "$v") |" ;;
        raw) line+=" $v |" ;;
      esac
      if [[ -n $5 ]]; then line+=" $(verdict "$v" "$5" "$6") |"; else line+=" |"; fi
    done
    echo "$line"
  }
  for b in $BACKENDS; do
    R[$b.rss_idle_mib]=$(mib "${R[$b.rss_idle]}")
    R[$b.rss_peak_mib]=$(mib "${R[$b.rss_peak]}")
    R[$b.login_pct]=$(pct "${R[$b.d.rps]}" "$RAW_RATE")
    R[$b.ed_pct]=$(pct "${R[$b.ed.rps]}" "$RAW_RATE")
    R[$b.f_pct]=$(pct "${R[$b.f.rps]:-0}" "${R[$b.a.rps]:-0}")
    R[$b.g_pct]=$(pct "${R[$b.g.rps]:-0}" "${R[$b.a2.rps]:-0}")
    R[$b.g_pct_a]=$(pct "${R[$b.g.rps]:-0}" "${R[$b.a.rps]:-0}")
  done
  row "start-up" "to the first answered /healthz, empty database (ms)" "≤ 100 ms" start_fresh "<=" 100
  row "start-up" "same, restart on the seeded database (ms)" "≤ 100 ms" start "<=" 100
  row "memory" "RSS idle after start (MiB)" "≤ 20 MiB" rss_idle_mib "<=" 20 raw
  row "memory" "peak RSS over the run, VmHWM (MiB)" "≤ 60 MiB" rss_peak_mib "<=" 60 raw
  row "(a) \`me\` with a JWT" "requests/s" "≥ 20,000" a.rps ">=" 20000
  row "(a)" "p50 (ms)" "" a.p50 "" ""
  row "(a)" "p99 (ms)" "≤ 5 ms" a.p99 "<=" 5
  row "(a)" "CPU per request (µs): server / PostgreSQL / rest" "" a.cpu "" "" raw
  row "(a)" "CPU time the host stole during the run (%)" "" a.steal "" "" raw
  row "(b) 20 users of the caller's team (condition)" "requests/s" "≥ 5,000" b.rps ">=" 5000
  row "(b)" "p50 (ms)" "" b.p50 "" ""
  row "(b)" "p99 (ms)" "" b.p99 "" ""
  row "(b)" "CPU per request (µs): server / PostgreSQL / rest" "" b.cpu "" "" raw
  row "(b)" "CPU time the host stole during the run (%)" "" b.steal "" "" raw
  row "(c) public query refused (FORBIDDEN)" "requests/s" "≥ 30,000" c.rps ">=" 30000
  row "(c)" "p50 (ms)" "" c.p50 "" ""
  row "(c)" "p99 (ms)" "" c.p99 "" ""
  row "(c)" "CPU per request (µs): server / PostgreSQL / rest" "" c.cpu "" "" raw
  row "(c)" "CPU time the host stole during the run (%)" "" c.steal "" "" raw
  row "(d) \`login\`, correct password" "logins/s" "" d.rps "" ""
  row "(d)" "% of the raw bcrypt rate ($RAW_RATE/s)" "≥ 90 %" login_pct ">=" 90 raw
  row "(d)" "p50 (ms)" "" d.p50 "" ""
  row "(d)" "p99 (ms)" "" d.p99 "" ""
  row "(d)" "CPU time the host stole during the run (%)" "" d.steal "" "" raw
  row "(e) (a) during (d)" "(a) requests/s" "" ea.rps "" ""
  row "(e)" "(a) p50 (ms)" "" ea.p50 "" ""
  row "(e)" "(a) p99 (ms)" "≤ 20 ms" ea.p99 "<=" 20
  row "(e)" "(d) logins/s" "" ed.rps "" ""
  row "(e)" "(d) % of the raw bcrypt rate" "" ed_pct "" "" raw
  row "(f) REST \`GET /api/users/me\` with a JWT" "requests/s" "" f.rps "" ""
  row "(f)" "% of (a)'s requests/s" "≥ 80 %" f_pct ">=" 80 raw
  row "(f)" "p50 (ms)" "" f.p50 "" ""
  row "(f)" "p99 (ms)" "" f.p99 "" ""
  row "(f)" "CPU per request (µs): server / PostgreSQL / rest" "" f.cpu "" "" raw
  row "(g) \`me\` with a session-bound JWT (refresh mode)" "requests/s" "" g.rps "" ""
  row "(g)" "% of (a') \`me\` with a legacy JWT on the same refresh-mode server (each the better of two alternated runs)" "≥ 90 %" g_pct ">=" 90 raw
  row "(g)" "% of (a)" "" g_pct_a "" "" raw
  row "(g)" "p50 (ms)" "" g.p50 "" ""
  row "(g)" "p99 (ms)" "" g.p99 "" ""
  row "(g)" "CPU per request (µs): server / PostgreSQL / rest" "" g.cpu "" "" raw
  row "(a')" "requests/s" "" a2.rps "" ""
  row "(a')" "CPU per request (µs): server / PostgreSQL / rest" "" a2.cpu "" "" raw
  row "(h) \`POST /api/auth/refresh\` ($REFRESH_CONNECTIONS sessions, one connection each)" "refreshes/s" "" h.rps "" ""
  row "(h)" "p50 (ms)" "" h.p50 "" ""
  row "(h)" "p99 (ms)" "" h.p99 "" ""
  row "(h)" "CPU per request (µs): server / PostgreSQL / rest" "" h.cpu "" "" raw
  row "errors" "wrk errors in (a) (non-2xx, socket, timeouts)" "0" a.err "<=" 0 raw
  row "errors" "in (b)" "0" b.err "<=" 0 raw
  row "errors" "in (c)" "0" c.err "<=" 0 raw
  row "errors" "in (d)" "0" d.err "<=" 0 raw
  row "errors" "in (e) (a)" "0" ea.err "<=" 0 raw
  row "errors" "in (e) (d)" "0" ed.err "<=" 0 raw
  row "errors" "in (f)" "0" f.err "<=" 0 raw
  row "errors" "in (g)" "0" g.err "<=" 0 raw
  row "errors" "in (h) (a 401 would mean a token spent twice)" "0" h.err "<=" 0 raw
  echo
  echo "Latencies are wrk's (from the client, over loopback, on the same $NPROC cores as the server)."
  echo "CPU per request: clock ticks of the server process, of every PostgreSQL process, and the rest"
  echo "of the machine's busy time (wrk, the kernel's network work, anything else) during the wrk run,"
  echo "divided by the requests wrk completed."
  echo "Steal: the share of this virtual machine's CPU time that its host gave to others during the"
  echo "wrk run (/proc/stat); at more than a few percent, rates and latencies read low and high."
  echo "The raw bcrypt rate comes from pyca/bcrypt, not from Castellan's binary (it has no hashing"
  echo "command), so (d) compares logins/s against that reference. wrk counts only completed requests:"
  echo "with 32 connections and logins taking seconds, short runs under-count (d); use DURATION ≥ 10."
}

report >"$WORK/results.md"
# bench/scale.sh's section (between its markers) stays in the results.
if [[ -f $RESULTS ]] && grep -q '^<!-- scale -->' "$RESULTS"; then
  { echo; sed -n '/^<!-- scale -->/,/^<!-- \/scale -->/p' "$RESULTS"; } >>"$WORK/results.md"
fi
cp "$WORK/results.md" "$RESULTS"
echo
cat "$RESULTS"
log "written to $RESULTS"
