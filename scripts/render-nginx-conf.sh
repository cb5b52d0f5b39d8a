#!/usr/bin/env bash
# Renders deploy/nginx.conf for this machine: the compose upstreams server-1/server-2 become local
# ports, nginx listens on a loopback port, and temp paths live under the -p prefix (no root paths).
# Usage: scripts/render-nginx-conf.sh OUT_FILE LISTEN_PORT FIRST_BACKEND_PORT SECOND_BACKEND_PORT
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="$1" listen="$2" first="$3" second="$4"
sed -e "s/\bserver-1:8000\b/127.0.0.1:$first/g" -e "s/\bserver-2:8000\b/127.0.0.1:$second/g" \
  -e "s/^\(\s*\)listen 80;/\1listen 127.0.0.1:$listen;/" \
  -e '0,/^http {/s//http {\n    client_body_temp_path temp\/body;\n    proxy_temp_path temp\/proxy;\n    fastcgi_temp_path temp\/fastcgi;\n    uwsgi_temp_path temp\/uwsgi;\n    scgi_temp_path temp\/scgi;/' \
  deploy/nginx.conf >"$out"
