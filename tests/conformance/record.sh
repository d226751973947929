#!/usr/bin/env bash
# Records keepalived 2.2.7's `-t` exit code for every case of the corpus in expected.tsv.
#
# The recording is made by the conformance harness itself (crates/daemon/tests/conformance.rs)
# so that keepalived sees exactly the environment the test gives it: a fresh network namespace
# with lo, eth0, eth1 and eth2, the corpus copied to a temporary directory with @TMP@/@CASE@
# substituted, and the scripts each case asks for created with their modes. Needs root.
# The test run itself may fail (rkeepalived mismatches); the recording is made before that.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ $(id -u) -ne 0 ]]; then
  echo "record.sh: must run as root (network namespaces)" >&2
  exit 1
fi
command -v keepalived >/dev/null || { echo "record.sh: keepalived is not installed" >&2; exit 1; }
manifest=tests/conformance/expected.tsv
before=$(stat -c %Y.%s "$manifest" 2>/dev/null || echo none)
cargo build -p rkeepalived --tests
sleep 1
RKA_CONFORMANCE_RECORD=1 CI=true cargo test -p rkeepalived --test conformance \
  -- corpus_exit_codes_match_keepalived --exact >/dev/null 2>&1 || true
after=$(stat -c %Y.%s "$manifest" 2>/dev/null || echo none)
if [[ $before == "$after" ]]; then
  echo "record.sh: $manifest was not rewritten; run the test by hand to see why:" >&2
  echo "  RKA_CONFORMANCE_RECORD=1 cargo test -p rkeepalived --test conformance -- --nocapture" >&2
  exit 1
fi
echo "record.sh: wrote $manifest ($(grep -avc '^#' "$manifest") cases)"
awk -F'\t' '!/^#/ {n[$2]++} END {for (c in n) printf "  keepalived exit %s: %d cases\n", c, n[c]}' \
  "$manifest" | sort
