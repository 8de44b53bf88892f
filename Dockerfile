# syntax=docker/dockerfile:1
# sluice: built with the toolchain (better-sqlite3 compiles from source), then packaged as one
# executable (`npm run package`, README "Single executable"). Two images:
#   docker build -t sluice .                      the default: only dist/sluice on distroless/cc
#                                                 (glibc, libstdc++: what Node.js and the addon link to)
#   docker build --target node-runtime -t sluice:node .   Node.js, node_modules and dist/, as before
# Both run as a non-root user with the data directory /app/data as a volume.

FROM node:24-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# `npm ci` runs the prepare script (bin/build.js), which builds only when src/ is there: not yet.
COPY bin ./bin
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY drizzle ./drizzle
# The executable is this image's Node.js with the bundle and assets injected (it needs the dev
# dependencies esbuild and postject, so it is made before the prune).
RUN npm run build && npm run package -- --out /out/sluice && npm prune --omit=dev \
 && mkdir -p /out/data

FROM node:24-bookworm-slim AS node-runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATABASE_URL=file:/app/data/sluice.db
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/drizzle ./drizzle
RUN mkdir -p /app/data && chown node:node /app/data
USER node
VOLUME ["/app/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# NODE_ENV=production: SLUICE_ADMIN_TOKEN must be set, or sluice refuses to start.
CMD ["node", "dist/cli.js", "start"]

# The default image: no shell, no Node.js, no package manager. It has no HEALTHCHECK (nothing in
# it could run one): probe GET /healthz and /readyz from the orchestrator. The executable extracts
# its addon and migrations into $TMPDIR (/tmp) at the first start: with a read-only root file
# system, mount a tmpfs there (not noexec: the addon is loaded from it).
FROM gcr.io/distroless/cc-debian12:nonroot AS single
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATABASE_URL=file:/app/data/sluice.db
WORKDIR /app
COPY --from=build /out/sluice /usr/local/bin/sluice
COPY --from=build --chown=65532:65532 /out/data /app/data
USER 65532:65532
VOLUME ["/app/data"]
EXPOSE 8080
# NODE_ENV=production: SLUICE_ADMIN_TOKEN must be set, or sluice refuses to start.
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["start"]
