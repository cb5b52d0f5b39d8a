# syntax=docker/dockerfile:1

# astron-chat server image. The server runs as `npm start` does: the bundle `npm run build` writes
# with esbuild (server/dist/main.js, our sources and migrations in one file; packages stay in node_modules),
# serving the web console that the same command builds with Vite (console/dist).

# --- deps: the only stage with a C++ toolchain (better-sqlite3 is a native addon) ------------------
FROM node:20-bookworm-slim AS deps

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Manifests only, so the npm ci layer is reused until a dependency actually changes.
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY server/package.json server/
COPY client/package.json client/
COPY console/package.json console/

# No NODE_ENV=production here: it would make npm ci skip esbuild, which builds the server below.
RUN npm ci --no-audit --no-fund && npm cache clean --force

# --- runtime: same base, without the toolchain ---------------------------------------------------
FROM node:20-bookworm-slim

WORKDIR /app

# Whole /app from deps: root node_modules, any nested workspace node_modules, and the workspace
# symlinks (node_modules/@astron-chat/* -> ../../<workspace>) that the sources below complete.
COPY --from=deps /app /app
COPY shared ./shared
COPY server ./server
COPY client ./client
COPY console ./console
COPY migrations ./migrations
COPY tsconfig*.json ./
RUN npm run build --silent

# DATA_DIR only matters in embedded (SQLite) mode; it must be writable by the unprivileged user.
RUN mkdir -p /app/data && chown node:node /app/data

# A container is reached from outside its own loopback, so bind all interfaces by default
# (the server's own default is 127.0.0.1, which suits a developer machine, not a container).
# MALLOC_ARENA_MAX and the node option below are `npm start`'s memory settings
# (docs/decisions/2026-11-25-heap-limit.md); scripts/check-deploy.sh keeps the two in step.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/app/data \
    MALLOC_ARENA_MAX=2

USER node
EXPOSE 8000

# What `npm start` runs, without npm in front: SIGTERM reaches the server directly and graceful
# shutdown (drain running streams, then a final frame) works when the container is stopped.
CMD ["node", "--heap-growing-percent=30", "server/dist/main.js"]
