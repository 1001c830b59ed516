#!/usr/bin/env bash
# Feeds random query objects and templates to the filter engine and the template renderer for
# a bounded time (default 60 s). An input that crashes is written to tests/fuzz-corpus/, whose
# every file the test `the_fuzz_corpus_never_crashes` replays: fix the crash, commit the file.
set -euo pipefail
cd "$(dirname "$0")/.."
CASTELLAN_FUZZ_SECONDS="${FUZZ_SECONDS:-60}" cargo test --test api random_query_objects_and_templates_never_crash -- --nocapture
