#!/usr/bin/env bash
# Two astron-chat instances behind nginx (deploy/nginx.conf, the compose file's config) against
# MySQL/MariaDB and Redis, all on this machine. Ctrl-C (or SIGTERM) stops everything.
#   DATABASE_URL  default mysql://root@127.0.0.1:3306/test
#   REDIS_URL     default redis://127.0.0.1:6379/0
#   PORT          where nginx listens, default 8000; the instances take PORT+1 and PORT+2
# Needs nginx (apt-get install -y nginx). The instances run in demo mode (demo-app, sk-demo).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DATABASE_URL="${DATABASE_URL:-mysql://root@127.0.0.1:3306/test}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
port="${PORT:-8000}"
first=$((port + 1))
second=$((port + 2))
command -v nginx >/dev/null || { echo "cluster: nginx is not installed (apt-get install -y nginx)" >&2; exit 1; }

prefix="$(mktemp -d)"
mkdir -p "$prefix/temp"
scripts/render-nginx-conf.sh "$prefix/nginx.conf" "$port" "$first" "$second"

npm run build --silent
# What `npm start` runs after its build: the same memory settings, node options and bundle
# (`VAR=value node --option server/dist/main.js`, run through env).
read -r -a start_command <<<"$(node -p 'const s = require("./package.json").scripts.start; s.slice(s.lastIndexOf("&& ") + 3)')"
pids=()
stop() {
  trap - EXIT INT TERM
  kill "${pids[@]}" 2>/dev/null || true
  nginx -p "$prefix/" -c "$prefix/nginx.conf" -g "pid $prefix/nginx.pid;" -s quit 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$prefix"
}
trap stop EXIT INT TERM

for instance_port in "$first" "$second"; do
  PORT="$instance_port" HOST=127.0.0.1 DEMO_MODE=1 TRUST_CONSUMER_HEADER=1 \
    env "${start_command[@]}" >"$prefix/instance-$instance_port.log" 2>&1 &
  pids+=("$!")
done
for instance_port in "$first" "$second"; do
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$instance_port/health" >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -fsS "http://127.0.0.1:$instance_port/health" >/dev/null || { echo "cluster: instance on $instance_port did not start:" >&2; cat "$prefix/instance-$instance_port.log" >&2; exit 1; }
done
nginx -p "$prefix/" -c "$prefix/nginx.conf" -g "pid $prefix/nginx.pid;"

echo "astron-chat cluster: nginx http://127.0.0.1:$port -> instances :$first (pid ${pids[0]}) and :$second (pid ${pids[1]})"
echo "  logs: $prefix/instance-$first.log, $prefix/instance-$second.log; kill one with: kill -9 <pid>"
wait -n "${pids[@]}" || true
echo "cluster: an instance stopped; the other keeps serving behind nginx. Ctrl-C to stop all."
wait
