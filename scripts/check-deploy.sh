#!/usr/bin/env bash
# Validates the deployment files (Dockerfile, .dockerignore, docker-compose.yml, deploy/nginx.conf)
# as far as possible without a Docker engine:
#
#   1. docker-compose.yml: `docker compose config -q` when the compose plugin (or docker-compose)
#      is installed; in every case a YAML parse plus checks of the contract (services, env var
#      names, healthchecks, depends_on), so typos are caught even where compose is missing.
#   2. Dockerfile: every COPY source exists and is not excluded by .dockerignore; base image,
#      non-root user, exposed port.
#   3. deploy/prometheus: `promtool check config` (which checks alerts.yml too) and `promtool test
#      rules alerts.test.yml` (synthetic series for each KPI rule); deploy/grafana/astron-chat.json
#      parses and every panel has a query.
#   4. deploy/k8s: every manifest against the Kubernetes JSON schemas bundled in the kubernetes-models
#      npm package, plus probes, env names and HPA metrics (server/test/deploy-files.test.ts, which
#      also checks that the alert rules and dashboard query metrics the server serves).
#   5. deploy/nginx.conf: `nginx -t` on a temp copy. nginx -t resolves upstream host names, and
#      server-1 / server-2 only exist on the compose network, so the copy points them at 127.0.0.1;
#      a temp prefix holds temp paths and the pid file, and :80 becomes a free loopback port, so
#      no root is needed.
#
# Usage: scripts/check-deploy.sh        Exit status: 0 all checks passed, 1 otherwise.
# Needs: bash, node; python3 with PyYAML or js-yaml in node_modules; nginx (apt-get install nginx);
# promtool (apt-get install prometheus).

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

failures=0
pass() { printf 'PASS  %s\n' "$*"; }
skip() { printf 'SKIP  %s\n' "$*"; }
fail() {
  printf 'FAIL  %s\n' "$*"
  failures=$((failures + 1))
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# compose refuses to render the file without it (`${ADMIN_TOKEN:?...}`); any value will do here.
export ADMIN_TOKEN="${ADMIN_TOKEN:-check-deploy-placeholder}"
export SECRETS_KEY="${SECRETS_KEY:-check-deploy-placeholder}"

echo "== docker-compose.yml"

if docker compose version >/dev/null 2>&1; then
  if out="$(docker compose -f docker-compose.yml config -q 2>&1)"; then
    pass "docker compose config -q"
  else
    fail "docker compose config -q: $out"
  fi
elif command -v docker-compose >/dev/null 2>&1; then
  if out="$(docker-compose -f docker-compose.yml config -q 2>&1)"; then
    pass "docker-compose config -q"
  else
    fail "docker-compose config -q: $out"
  fi
elif command -v docker >/dev/null 2>&1; then
  skip "docker compose config: the docker CLI is installed but has no compose plugin (and no docker-compose)"
else
  skip "docker compose config: no docker CLI on this machine"
fi

# YAML -> JSON with whichever parser exists; the checks themselves are written once, in node.
parsed=""
if python3 -c 'import yaml' >/dev/null 2>&1; then
  if python3 -c 'import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), open(sys.argv[2], "w"))' \
    docker-compose.yml "$tmp/compose.json" 2>"$tmp/yaml.err"; then
    parsed="python3 PyYAML"
  else
    fail "YAML parse (PyYAML): $(cat "$tmp/yaml.err")"
  fi
elif [ -f node_modules/js-yaml/package.json ]; then
  if node -e '
    const fs = require("node:fs");
    const yaml = require(require.resolve("js-yaml", { paths: [process.cwd()] }));
    fs.writeFileSync(process.argv[2], JSON.stringify(yaml.load(fs.readFileSync(process.argv[1], "utf8"))));
  ' docker-compose.yml "$tmp/compose.json" 2>"$tmp/yaml.err"; then
    parsed="node js-yaml"
  else
    fail "YAML parse (js-yaml): $(cat "$tmp/yaml.err")"
  fi
else
  fail "no YAML parser: install python3-yaml (apt-get install python3-yaml) or run npm ci"
fi

if [ -n "$parsed" ]; then
  pass "YAML parses ($parsed)"
  if node - "$tmp/compose.json" <<'EOF'; then
const fs = require('node:fs');
const compose = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const raw = fs.readFileSync('docker-compose.yml', 'utf8');
const problems = [];
const check = (ok, message) => { if (!ok) problems.push(message); };

// The server's env var names (server/src/config/config.ts) plus compose-only ones.
const SERVER_ENV = ['PORT', 'HOST', 'DATABASE_URL', 'REDIS_URL', 'DATA_DIR', 'DEMO_MODE',
  'TRUST_CONSUMER_HEADER', 'OPENAI_BASE_URL', 'OPENAI_API_KEY', 'OPENAI_MODEL', 'RUN_TIMEOUT_SECONDS',
  'PING_INTERVAL_MS', 'MAX_BODY_BYTES', 'LOG_LEVEL', 'ADMIN_TOKEN', 'SECRETS_KEY', 'PROVIDER_TIMEOUT_SECONDS',
  'PROVIDER_CONNECT_TIMEOUT_SECONDS'];
const REQUIRED_ENV = ['HOST', 'PORT', 'DATABASE_URL', 'REDIS_URL', 'TRUST_CONSUMER_HEADER', 'ADMIN_TOKEN', 'LOG_LEVEL'];
const INTERPOLATED = new Set([...SERVER_ENV, 'MYSQL_ROOT_PASSWORD']);

const services = compose.services ?? {};
for (const name of ['mysql', 'redis', 'server-1', 'server-2', 'nginx']) {
  check(name in services, `service ${name} is missing`);
}
const envOf = (service) => {
  const env = service?.environment ?? {};
  return Array.isArray(env) ? Object.fromEntries(env.map((e) => e.split(/=(.*)/s).slice(0, 2))) : env;
};
const testOf = (service) => [service?.healthcheck?.test ?? []].flat().join(' ');

check(String(services.mysql?.image).startsWith('mysql:8'), 'mysql image is not mysql:8');
check(envOf(services.mysql).MYSQL_DATABASE === 'astron_chat', 'mysql MYSQL_DATABASE is not astron_chat');
check(testOf(services.mysql) !== '', 'mysql has no healthcheck');
check(String(services.redis?.image).startsWith('redis:7'), 'redis image is not redis:7');
check(testOf(services.redis) !== '', 'redis has no healthcheck');

for (const name of ['server-1', 'server-2']) {
  const service = services[name];
  if (!service) continue;
  const build = typeof service.build === 'string' ? service.build : service.build?.context;
  check(build === '.', `${name}: build is not "."`);
  const env = envOf(service);
  for (const key of Object.keys(env)) {
    check(SERVER_ENV.includes(key), `${name}: unknown env var ${key} (the server reads: ${SERVER_ENV.join(', ')})`);
  }
  for (const key of REQUIRED_ENV) check(key in env, `${name}: env var ${key} is missing`);
  check(env.HOST === '0.0.0.0', `${name}: HOST must be 0.0.0.0 so nginx can reach it`);
  check(String(env.PORT) === '8000', `${name}: PORT must be 8000 (nginx upstream and healthcheck use it)`);
  for (const dep of ['mysql', 'redis']) {
    check(service.depends_on?.[dep]?.condition === 'service_healthy', `${name}: must depend on ${dep} being healthy`);
  }
  check(testOf(service).includes('http://127.0.0.1:8000/health'), `${name}: healthcheck does not hit /health`);
}

const nginx = services.nginx ?? {};
check(nginx.image === 'nginx:1.27-alpine', 'nginx image is not nginx:1.27-alpine');
check((nginx.ports ?? []).map(String).includes('8000:80'), 'nginx does not publish 8000:80');
const mount = (nginx.volumes ?? []).map(String).find((v) => v.includes('deploy/nginx.conf'));
check(mount !== undefined && mount.includes(':/etc/nginx/nginx.conf'), 'nginx does not mount deploy/nginx.conf as /etc/nginx/nginx.conf');
check(fs.existsSync('deploy/nginx.conf'), 'deploy/nginx.conf does not exist');

// Interpolation: every `$` outside comments is `$$` or `${NAME...}` with a known NAME, so a typo in
// a variable name cannot silently become an empty value.
raw.split('\n').forEach((line, index) => {
  const code = line.replace(/(^|\s)#.*$/, '');
  for (const match of code.matchAll(/\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(?::?[-?+])[^}]*)?\}|.?)/g)) {
    if (match[1] === '$') continue;
    if (match[2] === undefined) problems.push(`line ${index + 1}: bare "$" (write $$ for a literal dollar)`);
    else check(INTERPOLATED.has(match[2]), `line ${index + 1}: unknown variable \${${match[2]}}`);
  }
});
check(/\$\{ADMIN_TOKEN:\?/.test(raw), 'ADMIN_TOKEN must be required with ${ADMIN_TOKEN:?...}');

if (problems.length > 0) {
  for (const problem of problems) console.log(`      - ${problem}`);
  process.exit(1);
}
EOF
    pass "compose contract: services, env var names, healthchecks, depends_on, interpolation"
  else
    fail "compose contract (see above)"
  fi
fi

echo "== Dockerfile"

if node - <<'EOF'; then
const fs = require('node:fs');
const path = require('node:path');
const problems = [];
const lines = fs.readFileSync('Dockerfile', 'utf8').split('\n').map((l) => l.trim());
const ignored = fs.readFileSync('.dockerignore', 'utf8').split('\n').map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#')).map((l) => l.replace(/^\*\*\//, ''));
const globToRegExp = (glob) => new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);

for (const from of lines.filter((l) => /^FROM\s/i.test(l))) {
  if (!/^FROM\s+node:20-bookworm-slim(\s|$)/i.test(from)) problems.push(`unexpected base image: ${from}`);
}
for (const copy of lines.filter((l) => /^COPY\s/i.test(l) && !/--from=/.test(l))) {
  const sources = copy.split(/\s+/).slice(1).filter((a) => !a.startsWith('--')).slice(0, -1);
  for (const source of sources) {
    const dir = path.dirname(source);
    const pattern = globToRegExp(path.basename(source));
    const found = fs.existsSync(dir) && fs.readdirSync(dir).some((entry) => pattern.test(entry));
    if (!found) problems.push(`COPY source not in the build context: ${source}`);
    const top = source.split('/')[0];
    if (ignored.some((rule) => globToRegExp(rule).test(top) || globToRegExp(rule).test(source))) {
      problems.push(`COPY source excluded by .dockerignore: ${source}`);
    }
  }
}
for (const rule of ['node_modules', 'data', '.git', 'dist']) {
  if (!ignored.includes(rule)) problems.push(`.dockerignore does not exclude ${rule}`);
}
const user = lines.filter((l) => /^USER\s/i.test(l)).pop();
if (!user || /^USER\s+(root|0)(:|\s|$)/i.test(user)) problems.push('the final USER is missing or root');
if (!lines.some((l) => /^EXPOSE\s+8000(\s|$)/i.test(l))) problems.push('EXPOSE 8000 is missing');
const cmd = lines.filter((l) => /^CMD\s/i.test(l)).pop() ?? '';
// The image runs what `npm start` runs: the same node options and memory settings, the same bundle.
const start = JSON.parse(fs.readFileSync('package.json', 'utf8')).scripts.start;
const startCommand = start.slice(start.lastIndexOf('node ')).split(' ');
if (cmd.replace(/^CMD\s+/i, '') !== JSON.stringify(startCommand).replaceAll(',', ', ')) {
  problems.push(`the CMD is not what \`npm start\` runs: ${JSON.stringify(startCommand)}`);
}
// `VAR=value` words before `node` in the start script: each one in an ENV line of the image.
const envLines = fs.readFileSync('Dockerfile', 'utf8').replace(/\\\n/g, ' ').split('\n').filter((l) => /^ENV\s/i.test(l));
for (const assignment of start.slice(start.lastIndexOf('&& ') + 3, start.lastIndexOf('node ')).split(' ').filter(Boolean)) {
  if (!envLines.some((l) => l.split(/\s+/).includes(assignment))) {
    problems.push(`the image does not set ${assignment}, which \`npm start\` does`);
  }
}
if (!lines.some((l) => /^RUN\s+npm run build/i.test(l))) problems.push('the image does not run `npm run build`');

if (problems.length > 0) {
  for (const problem of problems) console.log(`      - ${problem}`);
  process.exit(1);
}
EOF
  pass "Dockerfile: base image, COPY sources present and not ignored, non-root USER, EXPOSE 8000"
else
  fail "Dockerfile (see above)"
fi

echo "== deploy/prometheus, deploy/grafana"

if ! command -v promtool >/dev/null 2>&1; then
  fail "promtool is not installed, so the alert rules cannot be tested (apt-get install -y prometheus)"
else
  if out="$(promtool check config deploy/prometheus/prometheus.yml 2>&1)"; then
    pass "promtool check config deploy/prometheus/prometheus.yml (and its rule file alerts.yml)"
  else
    fail "promtool check config:"
    printf '%s\n' "$out" | sed 's/^/      /'
  fi
  if out="$(promtool test rules deploy/prometheus/alerts.test.yml 2>&1)"; then
    pass "promtool test rules deploy/prometheus/alerts.test.yml"
  else
    fail "promtool test rules:"
    printf '%s\n' "$out" | sed 's/^/      /'
  fi
fi
if out="$(node -e '
  const dashboard = JSON.parse(require("node:fs").readFileSync("deploy/grafana/astron-chat.json", "utf8"));
  const bad = dashboard.panels.filter((p) => !(p.targets?.length > 0) || p.targets.some((t) => !t.expr));
  if (bad.length > 0) { console.log(`panels without a query: ${bad.map((p) => p.title).join(", ")}`); process.exit(1); }
  console.log(`${dashboard.panels.length} panels`);
' 2>&1)"; then
  pass "deploy/grafana/astron-chat.json parses, every panel has a query ($out)"
else
  fail "deploy/grafana/astron-chat.json: $out"
fi

echo "== deploy/k8s"

if out="$(npx vitest run server/test/deploy-files.test.ts 2>&1)"; then
  pass "deploy/k8s: Kubernetes schemas (kubernetes-models), probes, env names, HPA metrics; alert and dashboard metric names"
else
  fail "deploy/k8s (server/test/deploy-files.test.ts):"
  printf '%s\n' "$out" | tail -40
fi

echo "== deploy/nginx.conf"

if ! command -v nginx >/dev/null 2>&1; then
  fail "nginx is not installed, so deploy/nginx.conf cannot be tested (apt-get update && apt-get install -y nginx)"
else
  # Upstream names only resolve on the compose network; nothing needs to listen on these ports
  # for a config test.
  # nginx -t also binds the listen sockets: use a free loopback port instead of :80 (root only).
  port="$(node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')"
  scripts/render-nginx-conf.sh "$tmp/nginx.conf" "$port" 18001 18002
  if grep -nE '\bserver-[12]\b' "$tmp/nginx.conf" | grep -v '^\s*[0-9]*:\s*#' >"$tmp/left.txt"; then
    fail "nginx: upstream hosts left after substitution: $(cat "$tmp/left.txt")"
  fi
  mkdir -p "$tmp/prefix/temp"
  error_log_flag=()
  if nginx -h 2>&1 | grep -q -- '-e filename'; then
    error_log_flag=(-e "$tmp/prefix/error.log")
  fi
  # nginx -t also creates (then removes) the pid file; the distribution's /run needs root.
  if out="$(nginx -t -p "$tmp/prefix/" -c "$tmp/nginx.conf" -g "pid $tmp/prefix/nginx.pid;" \
    "${error_log_flag[@]}" 2>&1)"; then
    pass "nginx -t ($(nginx -v 2>&1 | sed 's/^nginx version: //')) on a copy with server-1/server-2 -> 127.0.0.1"
    printf '%s\n' "$out" | sed 's/^/      /'
  else
    fail "nginx -t:"
    printf '%s\n' "$out" | sed 's/^/      /'
  fi
fi

echo
if [ "$failures" -gt 0 ]; then
  echo "check-deploy: $failures check(s) failed"
  exit 1
fi
echo "check-deploy: all checks passed"
