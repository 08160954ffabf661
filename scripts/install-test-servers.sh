#!/usr/bin/env bash
# Installs the real servers the tests run against, when missing:
#   Prometheus 2.x, the Pushgateway and promtool (Debian packages),
#   Chromium for the dashboard's browser test (Debian package, driven by the
#   playwright Python package of the dev extra; never `playwright install`), and
#   the original StatsD daemon (npm statsd@0.9.0, into .test-servers/statsd).
# Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
packages=()
for pair in prometheus:prometheus prometheus-pushgateway:prometheus-pushgateway \
    promtool:prometheus chromium:chromium; do
    binary=${pair%%:*} package=${pair#*:}
    if ! command -v "$binary" >/dev/null 2>&1; then
        missing+=("$binary")
        [[ " ${packages[*]} " == *" $package "* ]] || packages+=("$package")
    fi
done
if ((${#missing[@]})); then
    echo "install-test-servers: installing ${packages[*]} (missing: ${missing[*]})"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
        "${packages[@]}"
fi

statsd_dir=.test-servers/statsd
if [ ! -f "$statsd_dir/node_modules/statsd/stats.js" ]; then
    echo "install-test-servers: installing statsd@0.9.0 from npm into $statsd_dir"
    mkdir -p "$statsd_dir"
    npm install --prefix "$statsd_dir" --omit=optional --no-audit --no-fund --loglevel=error \
        statsd@0.9.0
fi
