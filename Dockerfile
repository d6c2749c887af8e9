# One image for every Bazaar process; compose.yaml (or a Kubernetes Deployment) picks the
# entry point. A build stage bundles each process with esbuild (`npm run build`, into dist/) and
# builds the storefront with Vite, both development dependencies, so the image ships without
# them; the runtime runs the bundles with plain node, no TypeScript loader.
# Node 22: the LTS line our dependencies declare (connect-node, whatwg-node ask for >= 22).
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY gen ./gen
COPY platform ./platform
COPY services ./services
COPY gateway ./gateway
COPY scripts ./scripts
COPY web ./web
RUN npm run build && npm run web:build

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# The root postinstall (patch-package) applies patches/ at install: see patches/README.md.
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# The sources stay beside the bundles: the bundles read files next to them (migrations,
# schema.graphql, the seed file), stack traces name them, and tsx scripts (`npm run seed`) run.
COPY tsconfig.json ./
COPY gen ./gen
COPY platform ./platform
COPY services ./services
COPY gateway ./gateway
# The storefront's sources too: the web process finds the build of these exact sources by
# their hash (web/build.ts) and refuses to serve another.
COPY web ./web
COPY --from=build /app/dist ./dist
COPY --from=build /app/web/dist ./web/dist
USER node
# Override per process, e.g. ["node", "--enable-source-maps", "dist/catalog.js"].
CMD ["node", "--enable-source-maps", "dist/account.js"]
