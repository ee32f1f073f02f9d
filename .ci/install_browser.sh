#!/usr/bin/env bash
# Debian's Chromium for the Playwright browser test (Playwright's own browser download cannot reach
# its host here), and a Korean font so that screenshots of the Korean page show Hangul.
# axe-core (npm) runs the accessibility checks inside the browser tests' pages.
# Idempotent: installs only what is missing.
set -euo pipefail
AXE_VERSION=4.11.1
AXE_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/.axe"
if [ ! -f "$AXE_DIR/node_modules/axe-core/axe.min.js" ]; then
    npm install --silent --no-audit --no-fund --prefix "$AXE_DIR" "axe-core@$AXE_VERSION" >/dev/null
fi
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
