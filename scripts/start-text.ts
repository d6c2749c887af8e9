// What `npm start` tells people: the banner once everything is ready, and which variable moves
// a process to another port when its port is taken.
import net from "node:net";
import { localUrl, type ProcessName } from "../platform/processes.js";
import { developmentAdmin } from "../services/account/config.js";

/** The variable `npm start` reads for a process's port (a process run alone reads PORT). */
export function portVariable(name: ProcessName): string {
  return `${name.toUpperCase()}_PORT`;
}

/** One line per port that cannot be listened on, naming the variable that moves it. */
export async function portProblems(
  wanted: { name: ProcessName; port: number }[],
  host = "127.0.0.1",
): Promise<string[]> {
  const problems = await Promise.all(
    wanted.map(async ({ name, port }) => {
      if (port === 0) return undefined;
      const code = await tryListen(port, host);
      if (code === undefined) return undefined;
      const why = code === "EADDRINUSE" ? "is already in use" : `cannot be used (${code})`;
      return `port ${port} for ${name} ${why}: stop what holds it, or run e.g. \`${portVariable(name)}=${port + 100} npm start\``;
    }),
  );
  return problems.filter((p): p is string => p !== undefined);
}

function tryListen(port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

export interface BannerOptions {
  ports: Record<ProcessName, number>;
  env: NodeJS.ProcessEnv;
  seconds: string;
  paint: (color: number, text: string) => string;
}

/** Everything a newcomer needs once all is ready: where to click, what to paste, who to be. */
export function banner({ ports, env, seconds, paint }: BannerOptions): string {
  const url = (name: ProcessName) => localUrl(name, ports[name]);
  const admin = env.ADMIN_EMAIL ?? developmentAdmin.email;
  const password = env.ADMIN_PASSWORD ? "(your ADMIN_PASSWORD)" : developmentAdmin.password;
  const lines = [
    "",
    paint(1, `Bazaar is running (ready in ${seconds}):`),
    `  GraphiQL      ${paint(36, `${url("gateway")}/graphql`)}  (GraphQL: POST the same URL)`,
    `  storefront    ${paint(36, url("web"))}  (Connect-Web, straight to the services)`,
    ...(["account", "catalog", "order"] as const).map(
      (name) =>
        `  ${name.padEnd(13)} ${url(name)}  (gRPC h2c, Connect, gRPC-Web; reflection: buf curl --list-methods)`,
    ),
    `  gateway       ${url("gateway")}  (/graphql, /readyz, /metrics)`,
    `  admin login   ${admin} / ${password}`,
    env.NATS_URL?.trim()
      ? `  events        to JetStream at ${env.NATS_URL.trim()} (watch: NATS_URL=${env.NATS_URL.trim()} npm run events)`
      : "  events        recorded, not published (set NATS_URL)",
    "  data          .data/ (delete it to start afresh)",
    "",
    "Try:",
    `  npx buf curl --protocol grpc --http2-prior-knowledge --list-methods ${url("catalog")}`,
    `  npx buf curl -d '{"query":"coffee","take":3}' ${url("catalog")}/bazaar.catalog.v1.CatalogService/ListProducts`,
    "",
    "Press Ctrl-C to stop.",
    "",
  ];
  return `${lines.join("\n")}\n`;
}
