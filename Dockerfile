# syntax=docker/dockerfile:1
# One image for the API, the worker nodes and the Dragonfly configurator; compose.yaml picks the command.
#
# The build stage is the production install of the README: `npm ci`, `npm run build` (tsconfig.build.json:
# TypeScript compiled to dist/, with the files the code reads beside its modules), `npm prune --omit=dev`.
# The image gets dist/ and the pruned node_modules, and runs plain `node`: no TypeScript loader at run
# time, no dev dependencies (tsx, vitest, typescript's toolchain, autocannon, pino-pretty) in the image.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY shared ./shared
COPY server ./server
COPY workers ./workers
COPY dashboards ./dashboards
COPY scripts/build.mjs scripts/dragonfly-config.ts scripts/dragonfly-configurator.ts ./scripts/
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
# tini as PID 1 forwards SIGTERM to Node (which then drains) and reaps zombies.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
# 3000: the API (PORT); 9100: a worker node's /health and /ready (NODE_PORT).
EXPOSE 3000 9100
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--enable-source-maps", "dist/server/main.js"]
