#!/usr/bin/env bash
# Installs what redis-shard needs and builds it. Safe to run again: each step is skipped when already done.
#   bash scripts/setup.sh          what the stack needs to run (npm start)
#   bash scripts/setup.sh --test   that, plus what the tests drive: client libraries of other languages,
#                                  a browser for the dashboard, promtool and a Prometheus server
set -euo pipefail
cd "$(dirname "$0")/.."

with_test=0
[ "${1-}" = "--test" ] && with_test=1

need_debs=()
want() { [[ " ${need_debs[*]-} " == *" $1 "* ]] || need_debs+=("$1"); }
has_bin() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

for pair in redis-server:redis-server redis-sentinel:redis-sentinel redis-cli:redis-tools redis-benchmark:redis-tools \
            nutcracker:nutcracker haproxy:haproxy; do
  has_bin "${pair%%:*}" || want "${pair##*:}"
done
if [ "$with_test" = 1 ]; then
  for pair in chromium:chromium promtool:prometheus ruby:ruby php:php-cli ip:iproute2; do
    has_bin "${pair%%:*}" || want "${pair##*:}"
  done
  # Debian's client libraries load into Debian's interpreters (/usr/bin), whatever else is first on PATH.
  { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import redis' 2>/dev/null; } || { want python3; want python3-redis; }
  { [ -x /usr/bin/ruby ] && /usr/bin/ruby -e 'require "redis"' 2>/dev/null; } || want ruby-redis
  { [ -x /usr/bin/php ] && /usr/bin/php -r 'exit(extension_loaded("redis") ? 0 : 1);' 2>/dev/null; } || want php-redis
fi

if [ ${#need_debs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "redis-shard needs these Debian packages: ${need_debs[*]}" >&2
    echo "Install them as root, then run this again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${need_debs[*]}" >&2
    exit 1
  fi
  echo "Installing Debian packages: ${need_debs[*]}"
  # The packages' own services (Redis 6379, Sentinel 26379, HAProxy, Prometheus 9090) would take ports a
  # deployment may need; a policy-rc.d that denies starts keeps them from starting during the install.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; made_policy=1
  fi
  trap '[ "$made_policy" = 1 ] && rm -f "$policy"' EXIT
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_debs[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "Installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ "$with_test" = 1 ]; then
  # redis-py's newest release, for the client matrix test (test/integration/clients.test.ts), in a project-local
  # folder: Debian's python3-redis stays what Debian ships. The test fails, saying so, when this is missing.
  if [ ! -d .cache/redis-py/redis ] || ! PYTHONPATH=.cache/redis-py python3 -c 'import sys, redis; sys.exit(0 if int(redis.__version__.split(".")[0]) >= 8 else 1)' 2>/dev/null; then
    echo "Installing redis-py 8 into .cache/redis-py (pip)"
    python3 -m pip install --quiet --disable-pip-version-check --target .cache/redis-py 'redis==8.*' \
      || echo "WARNING: could not install redis-py 8 with pip; test/integration/clients.test.ts will fail for it" >&2
  fi
fi

npm run -s build
