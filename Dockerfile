# One image for every Bazaar process; compose.yaml (or a Kubernetes Deployment) picks the
# entry point. TypeScript runs through tsx, so there is no build step to drift from the source.
FROM node:20-bookworm-slim
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
USER node
# Override per process, e.g. ["node", "--import", "tsx", "services/catalog/main.ts"].
CMD ["node", "--import", "tsx", "services/account/main.ts"]
