#!/usr/bin/env bash
# Debian's Chromium for the Playwright browser test (Playwright's own browser download cannot reach
# its host here), and a Korean font so that screenshots of the Korean page show Hangul.
# Idempotent: installs only what is missing.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
dpkg -s fonts-nanum >/dev/null 2>&1 || missing+=(fonts-nanum)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
/usr/bin/chromium --version 2>/dev/null || true
