# One image for every Bazaar process; compose.yaml (or a Kubernetes Deployment) picks the
# entry point. TypeScript runs through tsx, so the services have no build step to drift from
# the source; only the storefront is built (by Vite, a development dependency), in its own
# stage, so the image ships without dev dependencies.
# Node 22: the LTS line our dependencies declare (connect-node, whatwg-node ask for >= 22).
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS web-build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY gen ./gen
COPY platform ./platform
COPY web ./web
RUN npm run web:build

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# The root postinstall (patch-package) applies patches/ at install: see patches/README.md.
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY tsconfig.json ./
COPY gen ./gen
COPY platform ./platform
COPY services ./services
COPY gateway ./gateway
# The storefront's sources stay beside its build: the web process finds the build of these
# exact sources by their hash (web/build.ts) and refuses to serve another.
COPY web ./web
COPY --from=web-build /app/web/dist ./web/dist
USER node
# Override per process, e.g. ["node", "--import", "tsx", "services/catalog/main.ts"].
CMD ["node", "--import", "tsx", "services/account/main.ts"]
