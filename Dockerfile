# syntax=docker/dockerfile:1
# The production image: the service compiled to JavaScript (dist/), run by plain node under tini.
#
# Base: Node.js 22 LTS on Debian 12, pinned by digest so that a rebuild gets the same bytes. To move
# to the digest of the day (security fixes), look it up and replace it here (or let Renovate/Dependabot's
# docker ecosystem propose it):
#   docker buildx imagetools inspect node:22-bookworm-slim     # "Digest: sha256:..."
# A build may also pass another base: docker build --build-arg NODE_IMAGE=node:22-bookworm-slim@sha256:<d> .
ARG NODE_IMAGE=node:22-bookworm-slim@sha256:43ac6c60b8f89723f746e8a92ce91abd5017e627ce1ddfe4238355d3a30b772c

# Build stage: every dependency, then tsc (tsconfig.build.json: src/ -> dist/), then production ones only.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
    && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: compiled code, production dependencies, migrations, the API documents and the page; non-root.
FROM ${NODE_IMAGE}
# tini as PID 1: it forwards SIGTERM to node and reaps children (embedded mode runs PostgreSQL's).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production PORT=3000 HOST=0.0.0.0 DATA_DIR=/var/lib/linked-clones
WORKDIR /app
RUN groupadd --system app && useradd --system --gid app --home-dir /app app \
    && mkdir -p /var/lib/linked-clones && chown app:app /var/lib/linked-clones
COPY --from=build --chown=app:app /app/node_modules ./node_modules
COPY --from=build --chown=app:app /app/dist ./dist
COPY --chown=app:app package.json openapi.yaml schema.graphql ./
# Found from dist/db by walking up to migrations/meta/_journal.json (src/db/database.ts).
COPY --chown=app:app migrations ./migrations
# The web page at /ui: plain ES modules and a stylesheet, no build step; found from dist/modules/ui/
# three folders up (src/modules/ui/ui-plugin.ts).
COPY --chown=app:app ui ./ui
USER app
# 3000: the API; 9464: /metrics when METRICS_PORT=9464 is set (compose.yaml does).
EXPOSE 3000 9464
HEALTHCHECK --interval=30s --timeout=5s CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/server.js"]
