# syntax=docker/dockerfile:1
# One image for the API, the worker nodes and the Dragonfly configurator; compose.yaml picks the command.
#
# The TypeScript is compiled to JavaScript in the build stage, so the image runs plain `node` with the
# production dependencies only: no TypeScript loader at run time, no dev dependencies in the image.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY shared ./shared
COPY server ./server
COPY workers ./workers
COPY dashboards ./dashboards
COPY scripts/dragonfly-config.ts scripts/dragonfly-configurator.ts ./scripts/
# tsconfig.json is the type-check config (noEmit, tests included); this one emits the runtime code.
# `rootDir: "."` keeps dist/ shaped like the repo, so `../package.json` imports still resolve.
COPY <<'EOF' tsconfig.build.json
{
  "extends": "./tsconfig.json",
  "compilerOptions": { "noEmit": false, "outDir": "dist", "rootDir": ".", "sourceMap": true },
  "include": ["shared", "server", "workers", "dashboards", "scripts/dragonfly-config.ts", "scripts/dragonfly-configurator.ts"]
}
EOF
RUN npx tsc -p tsconfig.build.json
# Files the code reads at run time beside its modules (pages, styles), if any, go along.
RUN find shared server workers dashboards -type f ! -name '*.ts' ! -name '*.tsx' -exec cp --parents {} dist/ \;

FROM ${NODE_IMAGE} AS runtime
# tini as PID 1 forwards SIGTERM to Node (which then drains) and reaps zombies.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
# 3000: the API (PORT); 9100: a worker node's /health and /ready (NODE_PORT).
EXPOSE 3000 9100
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--enable-source-maps", "dist/server/main.js"]
