#!/usr/bin/env bash
# Fuzzes for a bounded time (default 60 s each):
# - the filter engine and the template renderer with random query objects and templates;
# - the filter engine against sift.js 17.1.4 (tests/peers): runs of generated condition queries
#   and documents, each judged by sift, in memory and compiled to SQL on SQLite and PostgreSQL,
#   a fresh seed per run (CASTELLAN_SIFT_SEED=N repeats one);
# - the server binary with random whole GraphQL requests (query texts and variables nested,
#   enlarged, cut short or garbled), on SQLite and PostgreSQL, checking after each that it
#   still answers and never failed internally.
# An input that crashes is written to tests/fuzz-corpus/ (whole requests as graphql-*.json),
# whose every file the suite replays: fix the crash, commit the file.
# CASTELLAN_FUZZ_SEED=N repeats a run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CASTELLAN_FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
cargo test --test api -- --nocapture \
  random_query_objects_and_templates_never_crash \
  random_graphql_requests_never_stop_the_server \
  filter_engine_agrees_with_sift_sqlite \
  filter_engine_agrees_with_sift_postgres
