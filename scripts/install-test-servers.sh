#!/usr/bin/env bash
# Installs the real servers the tests run against, when missing:
#   Prometheus 2.x, the Pushgateway and promtool (Debian packages),
#   Chromium for the dashboard's browser test (Debian package, driven by the
#   playwright Python package of the dev extra; never `playwright install`), and
#   the original StatsD daemon (npm statsd@0.9.0, into .test-servers/statsd), and
#   PostgreSQL (Debian's postgresql package; initdb, pg_ctl and postgres linked into
#   .test-servers/, since Debian keeps them off the PATH).
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

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if ! command -v initdb >/dev/null 2>&1 && [ -z "$(pg_bin)" ]; then
    echo "install-test-servers: installing postgresql (missing: initdb)"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends postgresql
fi
if ! command -v initdb >/dev/null 2>&1 && [ ! -e .test-servers/initdb ]; then
    mkdir -p .test-servers
    for tool in initdb pg_ctl postgres; do
        ln -sf "$(pg_bin)/$tool" ".test-servers/$tool"
    done
fi

statsd_dir=.test-servers/statsd
if [ ! -f "$statsd_dir/node_modules/statsd/stats.js" ]; then
    echo "install-test-servers: installing statsd@0.9.0 from npm into $statsd_dir"
    mkdir -p "$statsd_dir"
    npm install --prefix "$statsd_dir" --omit=optional --no-audit --no-fund --loglevel=error \
        statsd@0.9.0
fi
