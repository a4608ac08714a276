# syntax=docker/dockerfile:1
#
# jwt-ext-authz container image.
#
#   docker build -t jwt-ext-authz:0.1.0 .
#   docker run --rm -p 9191:9191 -p 9901:9901 \
#     -v "$PWD/config.yaml:/etc/jwt-ext-authz/config.yaml:ro" jwt-ext-authz:0.1.0
#
# The runtime image holds dist/src, proto/ and the production node_modules only, runs as the
# unprivileged "node" user (uid 1000) and writes nothing outside /tmp, so it runs with a
# read-only root filesystem (see deploy/kubernetes/). Pin the base images by digest in your own
# build pipeline (e.g. node:20-bookworm-slim@sha256:...) if you need reproducible images.

# ---- build: all dependencies, TypeScript compiled to dist/ ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
# Dependencies first, so this layer is cached until the lock file changes. --ignore-scripts
# skips "prepare" (tsc) here because the sources are not copied yet; "npm run build" follows.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
# scripts/bundle.mjs bundles dist/src/cli into dist/src/cli/main.cjs, which the launcher runs.
COPY scripts ./scripts
RUN npm run build

# ---- runtime: production dependencies only ----
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# package.json is needed at run time too: its "type": "module" makes dist/ ES modules.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
# The `check` command's client reads the protos from <app>/proto (dist/src/grpc/proto.js and the
# bundle beside it resolve ../../../proto); the service itself parses none of them.
COPY proto ./proto
# The launcher sizes V8 for a sidecar unless NODE_OPTIONS sets a heap size (see bin/jwt-ext-authz).
COPY bin/jwt-ext-authz ./bin/jwt-ext-authz
# Numeric uid:gid (the base image's "node" user), so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
# 9191: gRPC ext_authz listener (and grpc.health.v1); 9901: admin HTTP (/metrics /healthz /readyz).
EXPOSE 9191 9901
# The launcher execs node, so node runs as PID 1: the service handles SIGTERM/SIGINT itself
# (not ready, drain, exit 0).
ENTRYPOINT ["/app/bin/jwt-ext-authz"]
CMD ["serve", "--config", "/etc/jwt-ext-authz/config.yaml"]
