#!/usr/bin/env bash
# Feeds random query objects and templates to the filter engine and the template renderer for
# a bounded time (default 60 s). A crash prints the seed: add a test with that input beside
# `random_query_objects_and_templates_never_crash` in tests/api/hostile.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
CASTELLAN_FUZZ_SECONDS="${FUZZ_SECONDS:-60}" cargo test --test api random_query_objects_and_templates_never_crash -- --nocapture
