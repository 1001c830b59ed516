#!/usr/bin/env bash
# Castellan at scale: a condition on an indexed declared attribute with 1,000,000 users.
#
#   bash bench/scale.sh                       # from the repository root: both backends
#   BACKENDS=sqlite bash bench/scale.sh       # one backend
#   USERS_LARGE=200000 DURATION=5 bash bench/scale.sh
#   SKIP_BUILD=1 bash bench/scale.sh          # use target/release/castellan as it is
#
# For each backend, two databases are measured the same way: one of 25 users and one of
# USERS_LARGE (default 1,000,000). castellan.toml declares `team` an indexed string attribute
# (`[[user.attributes]]`); the users are inserted directly in the database (SQLite: one
# transaction of executemany from Python; PostgreSQL: INSERT … SELECT FROM generate_series),
# except the two callers, who register over GraphQL: `member` (team t0000, with 1,000 members
# among a million, 2 among 25) and `rare00` (team `rare`: 20 members in either database, the
# others holding the highest ids). A grant of `user.find` under the condition {"attributes.team":
# "$user.attributes.team"} gives them their team. Workloads, with wrk (THREADS threads,
# CONNECTIONS connections, DURATION s each):
#   (b) `usersPermissionsUsers_connection` page of 20 with `pageInfo { total }`, as `member`;
#   (r) `usersPermissionsUsers` page of 20, as `rare00`.
# Each is reported at USERS_LARGE as a share of its requests per second at 25 users (target:
# at least 50 %), with the query plan (SQLite `EXPLAIN QUERY PLAN`, PostgreSQL `EXPLAIN`) of
# the SQL the condition compiles to, which must show the index `up_users_attr_team_string` (on
# PostgreSQL, an Index Only Scan for the count: the index is on the attribute's stored generated
# column `attr_team_string`). The figures replace the section between `<!-- scale -->` and
# `<!-- /scale -->` of bench/results.md: with BACKENDS naming one backend, only that backend's
# rows and plan are replaced, the others' kept as they were. Needs: cargo, curl, jq, python3, sqlite3, psql, wrk (installed from Debian
# when missing) and PostgreSQL as for bench/run.sh (PGHOST, PGPORT, PGUSER).
set -Eeuo pipefail
export LC_ALL=C

DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
BACKENDS=${BACKENDS:-"sqlite postgres"}
USERS_LARGE=${USERS_LARGE:-1000000}
USERS_SMALL=25
TEAMS=1000
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
PASSWORD='bench-password-123'
JWT_SECRET_VALUE='castellan-bench-jwt-secret-0123456789abcdefghijk'
API_TOKEN_SALT_VALUE='castellan-bench-api-token-salt-0123456789abcdef'

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BIN=${CASTELLAN_BIN:-$ROOT/target/release/castellan}
RESULTS=${RESULTS:-$BENCH/results.md}
cd "$ROOT"

log() { printf '[scale %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/castellan-scale.XXXXXX")
SERVER_PID=""
PG_DB=""

stop_server() {
  local pid=$SERVER_PID
  SERVER_PID=""
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

psql_admin() { psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

drop_pg() {
  [[ -n $PG_DB ]] || return 0
  psql_admin -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || log "could not drop $PG_DB"
  PG_DB=""
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_server
  drop_pg
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

for tool in curl jq python3 sqlite3 psql; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
if ! command -v wrk >/dev/null; then
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  log "installing wrk from Debian"
  $SUDO apt-get install -y wrk >/dev/null || die "could not install wrk"
fi

if [[ -n ${SKIP_BUILD:-} || -n ${CASTELLAN_BIN:-} ]]; then
  [[ -x $BIN ]] || die "$BIN does not exist"
  BUILD_NOTE="binary of $(date -u -r "$BIN" '+%Y-%m-%d %H:%M:%S UTC'), not rebuilt"
else
  log "release build (LTO off, 16 codegen units)"
  CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 nice cargo build --release >&2 \
    || die "the release build failed"
  BUILD_NOTE="CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 cargo build --release"
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server DIR PORT: starts the server and waits for /healthz; START_S is how long it took
# (start-up includes creating the declared attribute's index when missing).
start_server() {
  local dir=$1 port=$2 t0
  cat >"$dir/castellan.toml" <<'TOML'
[rateLimit]
enabled = false

[[user.attributes]]
name = "team"
type = "string"
indexed = true
TOML
  t0=$(date +%s.%N)
  (cd "$dir" && exec env DATABASE_URL="$DATABASE_URL" JWT_SECRET="$JWT_SECRET_VALUE" \
      API_TOKEN_SALT="$API_TOKEN_SALT_VALUE" CASTELLAN_ENV=production RUST_LOG=warn \
      "$BIN" serve --host 127.0.0.1 --port "$port") >>"$dir/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 3000); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$dir/server.log" >&2; die "the server exited"; }
    sleep 0.1
  done
  curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" || die "no answer on /healthz"
  START_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
}

gql() { # gql TOKEN QUERY [VARIABLES]: the JSON answer; fails on errors
  local out auth=()
  [[ -n $1 ]] && auth=(-H "Authorization: Bearer $1")
  out=$(jq -cn --arg q "$2" --argjson v "${3:-null}" '{query: $q, variables: $v}' |
    curl -sS --max-time 120 "$URL" -H 'Content-Type: application/json' "${auth[@]}" --data-binary @-)
  jq -e '(.errors // []) | length == 0' >/dev/null <<<"$out" || die "GraphQL errors for $2: $out"
  printf '%s\n' "$out"
}

body() { jq -cn --arg q "$2" '{query: $q}' >"$1"; }

# bulk_insert N: the users other than the two callers, straight into the database: the last 19
# of team `rare` (the highest ids: a plan that walked the primary key in order would read every
# row before them), the others spread over TEAMS teams t0000…
bulk_insert() {
  local n=$1 role_id
  case $BACKEND in
    sqlite)
      python3 - "$DB_FILE" "$n" "$TEAMS" <<'PY'
import sqlite3, sys
path, n, teams = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = sqlite3.connect(path)
db.execute("PRAGMA journal_mode = WAL")
role = db.execute("SELECT id FROM up_roles WHERE type = 'authenticated'").fetchone()[0]
def rows():
    for i in range(n):
        team = "rare" if i >= n - 19 else "t%04d" % (i % teams)
        yield (f"seed{i:07d}doc", f"seed{i:07d}", f"seed{i:07d}@scale.example.com",
               f"seed{i:07d}@scale.example.com", role, '{"team": "%s"}' % team)
with db:
    db.executemany(
        "INSERT INTO up_users (document_id, username, email, unique_email, provider, confirmed, blocked, "
        "role_id, attributes, tokens_valid_after, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, 'local', 1, 0, ?, ?, 0, '2026-12-06 00:00:00', '2026-12-06 00:00:00')", rows())
db.execute("ANALYZE")
db.close()
PY
      ;;
    postgres)
      role_id=$(psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PG_DB" -qAt -c "SELECT id FROM up_roles WHERE type = 'authenticated'")
      psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PG_DB" -v ON_ERROR_STOP=1 -qAt >/dev/null <<SQL
INSERT INTO up_users (document_id, username, email, unique_email, provider, confirmed, blocked,
                      role_id, attributes, tokens_valid_after, created_at, updated_at)
SELECT 'seed' || lpad(i::text, 7, '0') || 'doc', 'seed' || lpad(i::text, 7, '0'),
       'seed' || lpad(i::text, 7, '0') || '@scale.example.com', 'seed' || lpad(i::text, 7, '0') || '@scale.example.com',
       'local', TRUE, FALSE, $role_id,
       CASE WHEN i >= $n - 19 THEN '{"team": "rare"}' ELSE '{"team": "t' || lpad((i % $TEAMS)::text, 4, '0') || '"}' END,
       0, '2026-12-06 00:00:00', '2026-12-06 00:00:00'
FROM generate_series(0, $n - 1) AS i;
SQL
      # After a bulk insert, autovacuum (PostgreSQL >= 13 triggers it on inserts too) analyzes
      # the table and sets its visibility map, which lets PostgreSQL count a team from the
      # index on the attribute's generated column alone (an Index Only Scan); done here at
      # once, as production would see it shortly after such an insert.
      psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PG_DB" -v ON_ERROR_STOP=1 -qAt \
        -c "VACUUM (ANALYZE) up_users" >/dev/null
      ;;
  esac
}

# plan TEAM: the query plans of the count and of the page of the users of TEAM, with the SQL
# the condition compiles to on an indexed attribute (the shape tests/api/attributes.rs checks on
# both databases: SQLite, the index's expression; PostgreSQL, the attribute's stored generated
# column); on PostgreSQL as the server runs them (prepared, generic plan).
plan() {
  local where
  case $BACKEND in
    sqlite)
      where="((json_extract(up_users.attributes, '\$.team') = '$1'))"
      sqlite3 "$DB_FILE" "EXPLAIN QUERY PLAN SELECT count(*) FROM up_users WHERE $where" \
        "EXPLAIN QUERY PLAN SELECT id, username FROM up_users WHERE $where ORDER BY up_users.id ASC LIMIT 20" ;;
    postgres)
      where="((up_users.\"attr_team_string\" = \$1))"
      psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PG_DB" -qAt <<SQL
SET plan_cache_mode = force_generic_plan;
PREPARE c(text) AS SELECT count(*) FROM up_users WHERE $where;
PREPARE p(text) AS SELECT id, username FROM up_users WHERE $where ORDER BY up_users.id ASC LIMIT 20;
EXPLAIN EXECUTE c('$1');
EXPLAIN EXECUTE p('$1');
SQL
      ;;
  esac
}

declare -A R

# scenario BACKEND USERS: one database of USERS users, measured.
scenario() {
  BACKEND=$1
  local users=$2 dir port out admin role_id member rare key=$1-$2
  dir=$WORK/$key
  mkdir -p "$dir"
  port=$(free_port)
  URL="http://127.0.0.1:$port/graphql"
  case $BACKEND in
    sqlite)
      DB_FILE=$dir/castellan.db
      DATABASE_URL="sqlite://$DB_FILE" ;;
    postgres)
      PG_DB="castellan_scale_$$_$RANDOM"
      psql_admin -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
      DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$PG_DB" ;;
  esac
  log "[$key] starting on a fresh database"
  start_server "$dir" "$port"
  member=$(gql "" 'mutation { register(input: {username: "member", email: "member@scale.example.com", password: "'"$PASSWORD"'"}) { jwt user { id } } }')
  rare=$(gql "" 'mutation { register(input: {username: "rare00", email: "rare00@scale.example.com", password: "'"$PASSWORD"'"}) { jwt user { id } } }')
  admin=$(cd "$dir" && env DATABASE_URL="$DATABASE_URL" JWT_SECRET="$JWT_SECRET_VALUE" \
      API_TOKEN_SALT="$API_TOKEN_SALT_VALUE" CASTELLAN_ENV=production RUST_LOG=warn \
      "$BIN" token create --name scale --type full-access 2>>"$dir/cli.log" | grep -o 'cst_[A-Za-z0-9_-]*' | head -n1)
  [[ -n $admin ]] || die "no admin token"
  gql "$admin" 'mutation($q: JSON!) { createUsersPermissionsCondition(data: {name: "same-team", displayName: "Same team", query: $q}) { name } }' \
    '{"q": {"attributes.team": "$user.attributes.team"}}' >/dev/null
  gql "$admin" 'mutation { createUsersPermissionsRole(data: {name: "Team", type: "team", grants: [
      {action: "plugin::users-permissions.user.find", conditions: ["same-team"]}]}) { ok } }' >/dev/null
  role_id=$(gql "$admin" '{ usersPermissionsRoles(pagination: {pageSize: 100}) { id type } }' | jq -r '.data.usersPermissionsRoles[] | select(.type == "team") | .id')
  for pair in "$(jq -r '.data.register.user.id' <<<"$member"):t0000" "$(jq -r '.data.register.user.id' <<<"$rare"):rare"; do
    gql "$admin" 'mutation($id: ID!, $r: ID!, $t: JSON) { updateUsersPermissionsUser(id: $id, data: {role: $r, attributes: $t}) { data { id } } }' \
      "$(jq -cn --arg id "${pair%%:*}" --arg r "$role_id" --arg t "${pair#*:}" '{id: $id, r: $r, t: {team: $t}}')" >/dev/null
  done
  stop_server
  log "[$key] inserting $((users - 2)) users directly"
  local t0=$SECONDS
  bulk_insert $((users - 2))
  R[$key.seed_s]=$((SECONDS - t0))
  start_server "$dir" "$port"
  R[$key.start_s]=$START_S
  log "[$key] $users users in $((SECONDS - t0)) s; restarted in $START_S s"

  local q_total='query { usersPermissionsUsers_connection(pagination: {pageSize: 20}) { nodes { id username } pageInfo { total } } }'
  local q_rare='query { usersPermissionsUsers(pagination: {pageSize: 20}) { id username } }'
  out=$(gql "$(jq -r '.data.register.jwt' <<<"$member")" "$q_total")
  R[$key.total]=$(jq '.data.usersPermissionsUsers_connection.pageInfo.total' <<<"$out")
  out=$(gql "$(jq -r '.data.register.jwt' <<<"$rare")" "$q_rare")
  [[ $(jq '.data.usersPermissionsUsers | length' <<<"$out") == 20 ]] || die "[$key] the rare team's list: $out"
  log "[$key] member's team: ${R[$key.total]} users; rare team: 20"
  body "$WORK/total.json" "$q_total"
  body "$WORK/rare.json" "$q_rare"
  for w in b r; do
    local file=$WORK/total.json token
    token=$(jq -r '.data.register.jwt' <<<"$member")
    if [[ $w == r ]]; then file=$WORK/rare.json; token=$(jq -r '.data.register.jwt' <<<"$rare"); fi
    WRK_BODY_FILE=$file WRK_TOKEN=$token wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --timeout 10s \
      -s "$BENCH/graphql.lua" "$URL" >"$WORK/wrk-$key-$w.txt" 2>&1 || die "wrk failed"
    R[$key.$w.rps]=$(sed -n 's/^BENCH .*\<rps=\([^ ]*\).*/\1/p' "$WORK/wrk-$key-$w.txt")
    R[$key.$w.p99]=$(sed -n 's/^BENCH .*\<p99_ms=\([^ ]*\).*/\1/p' "$WORK/wrk-$key-$w.txt")
    R[$key.$w.err]=$(sed -n 's/^BENCH .*\<non2xx=\([0-9]*\).*/\1/p' "$WORK/wrk-$key-$w.txt")
    log "[$key] ($w) ${R[$key.$w.rps]} req/s, p99 ${R[$key.$w.p99]} ms, non-2xx ${R[$key.$w.err]}"
  done
  stop_server
  if [[ $users != "$USERS_SMALL" ]]; then
    plan t0000 >"$WORK/plan-$BACKEND-b.txt"
    plan rare >"$WORK/plan-$BACKEND-r.txt"
    log "[$key] query plans:"; cat "$WORK/plan-$BACKEND-b.txt" "$WORK/plan-$BACKEND-r.txt" >&2
    grep -q up_users_attr_team_string "$WORK/plan-$BACKEND-b.txt" || die "[$key] the plan does not use the index"
    if [[ $BACKEND == postgres ]] && ! grep -q 'Index Only Scan using up_users_attr_team_string' "$WORK/plan-$BACKEND-b.txt"; then
      log "[$key] WARNING: the count is not an Index Only Scan (is the visibility map set?)"
    fi
  fi
  [[ $BACKEND == postgres ]] && drop_pg
  return 0
}

for b in $BACKENDS; do
  case $b in sqlite | postgres) ;; *) die "unknown backend $b" ;; esac
  scenario "$b" "$USERS_SMALL"
  scenario "$b" "$USERS_LARGE"
done

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b > 0 ? 100 * a / b : 0) }'; }
verdict() { [[ $1 -ge 50 ]] && echo met || echo "not met"; }

# How the figures were measured, as the section says it.
COMMAND=""
[[ $BACKENDS == "sqlite postgres" ]] || COMMAND+="BACKENDS=$BACKENDS "
[[ -n ${SKIP_BUILD:-} ]] && COMMAND+="SKIP_BUILD=1 "
section() {
  echo "<!-- scale -->"
  echo "## Scale: a condition on an indexed attribute with $USERS_LARGE users"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); \`${COMMAND}bash bench/scale.sh\`"
  echo "- Binary: $BUILD_NOTE; nproc $(nproc), load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- wrk: $THREADS threads, $CONNECTIONS connections, ${DURATION}s per workload. \`team\` is declared"
  echo "  \`indexed\`; the condition is {\"attributes.team\": \"\$user.attributes.team\"}; users inserted directly"
  echo "  (the member's team: the \`total\` column; the rare team: 20 users, the last ids, in both)"
  echo
  echo "| Workload | Backend | req/s at 25 users | req/s at $USERS_LARGE | share | target ≥ 50 % | p99 at $USERS_LARGE (ms) | total at 25 / $USERS_LARGE | seeding (s) | start-up (s) |"
  echo "|---|---|---:|---:|---:|---|---:|---|---:|---:|"
  local b w small large share
  for w in b r; do
    for b in $BACKENDS; do
      small=${R[$b-$USERS_SMALL.$w.rps]}
      large=${R[$b-$USERS_LARGE.$w.rps]}
      share=$(pct "$large" "$small")
      local name="(b) page of 20 with pageInfo.total"
      [[ $w == r ]] && name="(r) page of 20, rare team"
      echo "| $name | $b | $small | $large | $share % | $(verdict "$share") | ${R[$b-$USERS_LARGE.$w.p99]} | ${R[$b-$USERS_SMALL.total]} / ${R[$b-$USERS_LARGE.total]} | ${R[$b-$USERS_LARGE.seed_s]} | ${R[$b-$USERS_LARGE.start_s]} |"
    done
  done
  for b in $BACKENDS; do
    echo
    echo "Query plan on $b ($USERS_LARGE users) of the condition's SQL for the member's team and for the rare team:"
    echo
    echo '```text'
    cat "$WORK/plan-$b-b.txt" "$WORK/plan-$b-r.txt"
    echo '```'
  done
  echo "<!-- /scale -->"
}

section >"$WORK/section.md"
cat "$WORK/section.md"
python3 - "$RESULTS" "$WORK/section.md" "$BACKENDS" <<'PY'
import re, sys
path, section = sys.argv[1], open(sys.argv[2]).read().rstrip("\n")
measured = sys.argv[3].split()
try:
    text = open(path).read()
except FileNotFoundError:
    text = ""
pattern = re.compile(r"<!-- scale -->.*?<!-- /scale -->", re.S)
old = pattern.search(text)
if old:
    # The rows and plans of the backends not measured now are kept from the section there.
    old = old.group(0)
    row = re.compile(r"^\| \((\w)\) [^|]* \| (\w+) \|.*$", re.M)
    plan = re.compile(r"^Query plan on (\w+) .*?^```text\n.*?^```$", re.M | re.S)
    kept = [b for b in dict.fromkeys(m.group(2) for m in row.finditer(old)) if b not in measured]
    if kept:
        rows = {(m.group(1), m.group(2)): m.group(0) for m in row.finditer(old) if m.group(2) in kept}
        rows.update({(m.group(1), m.group(2)): m.group(0) for m in row.finditer(section)})
        order = ["sqlite", "postgres"]
        table = "\n".join(rows[k] for k in sorted(rows, key=lambda k: (k[0], order.index(k[1]) if k[1] in order else 9)))
        plans = {m.group(1): m.group(0) for m in plan.finditer(old) if m.group(1) in kept}
        plans.update({m.group(1): m.group(0) for m in plan.finditer(section)})
        head = section[: row.search(section).start()]
        date = re.search(r"^- Date: (.*)$", old, re.M)
        head = head.replace("\n- Binary:", "\n- Rows and plan of %s kept from the run of %s\n- Binary:"
                            % (", ".join(kept), date.group(1) if date else "before"), 1)
        blocks = "\n\n".join(plans[b] for b in sorted(plans, key=lambda b: order.index(b) if b in order else 9))
        section = head + table + "\n\n" + blocks + "\n<!-- /scale -->"
if old:
    text = pattern.sub(lambda _: section, text)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
log "written to $RESULTS"
