#!/usr/bin/env bash
# Installs what redis-shard needs and builds it. Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_debs=()
for pair in redis-server:redis-server redis-sentinel:redis-sentinel redis-cli:redis-tools redis-benchmark:redis-tools nutcracker:nutcracker; do
  bin=${pair%%:*}; deb=${pair##*:}
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ] && [ ! -x "/usr/bin/$bin" ]; then
    [[ " ${need_debs[*]-} " == *" $deb "* ]] || need_debs+=("$deb")
  fi
done

if [ ${#need_debs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "redis-shard needs these Debian packages: ${need_debs[*]}" >&2
    echo "Install them as root, then run this again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${need_debs[*]}" >&2
    exit 1
  fi
  echo "Installing Debian packages: ${need_debs[*]}"
  # The packages' own services would take ports (26379 for Sentinel, 6379 for Redis) that a deployment may
  # need; a policy-rc.d that denies starts keeps them from starting during the install. We remove it after.
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

npm run -s build
