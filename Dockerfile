# syntax=docker/dockerfile:1
# Build stage: install every dependency and type-check.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json drizzle.config.ts ./
COPY src ./src
COPY migrations ./migrations
RUN npx tsc --noEmit \
    && npm prune --omit=dev

# Runtime stage: production dependencies only, as a non-root user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production PORT=3000 HOST=0.0.0.0 DATA_DIR=/var/lib/linked-clones
WORKDIR /app
RUN groupadd --system app && useradd --system --gid app --home-dir /app app \
    && mkdir -p /var/lib/linked-clones && chown app:app /var/lib/linked-clones
COPY --from=build --chown=app:app /app/node_modules ./node_modules
COPY --chown=app:app package.json ./
COPY --chown=app:app openapi.yaml schema.graphql ./
COPY --chown=app:app src ./src
COPY --chown=app:app migrations ./migrations
USER app
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# node itself (with tsx's loader) as PID 1's child-free process, so that SIGTERM reaches the server.
CMD ["node", "--import", "tsx", "src/server.ts"]
