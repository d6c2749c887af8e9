// Hive Gateway (The Guild's @graphql-hive/gateway) over our catalog, for bench/gateway.ts's
// same-run comparison (issue 10: our flat products query ≥ 2 × Hive Gateway's).
//
// It is not a dependency of the project (over 500 MB, and CI runs `npm ci`): the bench installs
// pinned versions on first use into bench/.hive (git-ignored) and reuses them afterwards. A failed
// install (no registry) is reported as a reason, so the rest of the bench still runs.
//
// The catalog becomes a GraphQL source in the two ways a Hive/Mesh user would wire it, each
// composed by mesh-compose into its own supergraph that `hive-gateway supergraph` serves:
// - "connect-json": as a JSON API, an @omnigraph/json-schema subgraph whose one Query field POSTs
//   to the catalog's Connect JSON endpoint (ListProducts over HTTP/1.1, as our gateway's default
//   Connect transport calls it, only in JSON where ours sends binary protobuf);
// - "grpc": generated from proto/bazaar/catalog/v1/catalog.proto by @omnigraph/grpc, one field
//   per RPC, called over gRPC (h2c, on the catalog's one port) by @graphql-mesh/transport-grpc.
//   This is how issue 10's reference figure for Hive Gateway was measured.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stripVTControlCharacters } from "node:util";
import { runToExit } from "../platform/testing.js";

/** Exact versions, so that a figure names what it was measured against. */
const pinned = {
  "@graphql-hive/gateway": "2.15.1",
  "@graphql-mesh/compose-cli": "1.8.2",
  "@graphql-mesh/transport-grpc": "0.7.0",
  "@graphql-mesh/transport-rest": "0.12.2",
  "@omnigraph/grpc": "0.2.28",
  "@omnigraph/json-schema": "0.112.4",
  // The same graphql-js as our gateway, so that both execute with the same engine.
  graphql: "16.11.0",
};

export const hiveVersion = pinned["@graphql-hive/gateway"];

const dir = new URL(".hive/", import.meta.url).pathname;
const protoDir = new URL("../proto", import.meta.url).pathname;
const bin = (name: string) => join(dir, "node_modules/.bin", name);

/** How the catalog is put behind Hive Gateway (see the top of this file). */
export type HiveSource = "connect-json" | "grpc";

export interface HiveScenario {
  /** The bench scenario's name, as printed (bench/all.ts reads it back). */
  name: string;
  /** Its name in the ratio line: `gateway flat / <label> = N×`. */
  label: string;
  /** The generated root field for ListProducts: it answers `{ products: [...] }`. */
  field: string;
  /** The generated name of Product's price_cents. */
  price: string;
  /**
   * The query Hive Gateway is measured with: the same data as our gateway's
   * `{ products(pagination:{take:20}) { id name price } }` (20 products: id, name and the price),
   * shaped by the generated schema: the request message is the `input` argument, the response is
   * the ListProductsResponse object around the list, and the price is the catalog's int64 cents
   * rather than our edge's price in currency units.
   */
  query: string;
  /** The same with each request a different page (`variables: { skip }`), and its name. */
  pagedName: string;
  pagedQuery: string;
}

const scenario = (name: string, label: string, field: string, price: string): HiveScenario => ({
  name,
  label,
  field,
  price,
  query: `{ ${field}(input:{take:20}) { products { id name ${price} } } }`,
  pagedName: `${name.replace(/\(take 20\)$/, "")}, distinct pages`,
  pagedQuery: `query ($skip: Int) { ${field}(input:{skip:$skip,take:20}) { products { id name ${price} } } }`,
});

export const hiveScenarios: Record<HiveSource, HiveScenario> = {
  // Named by the operation in catalogSource below; the price is a string in Connect JSON.
  "connect-json": scenario(
    "Hive Gateway products(take 20)",
    "Hive Gateway",
    "products",
    "priceCents",
  ),
  // Named by @omnigraph/grpc after the package, service and method; it keeps the proto's field
  // names (price_cents), and int64 becomes its BigInt scalar.
  grpc: scenario(
    "Hive Gateway gRPC products(take 20)",
    "Hive Gateway over gRPC",
    "bazaar_catalog_v1_CatalogService_ListProducts",
    "price_cents",
  ),
};

export type Hive = { ok: true; args: string[]; cwd: string } | { ok: false; reason: string };

/**
 * Installs Hive Gateway if needed and composes a supergraph over the catalog at `catalogUrl`,
 * reached the `source` way, into `workDir`; answers how to run it (`args` then `--port N`), or
 * why it cannot run.
 */
export async function prepareHive(
  source: HiveSource,
  catalogUrl: string,
  workDir: string,
): Promise<Hive> {
  installing ??= install();
  const failed = await installing;
  if (failed) return { ok: false, reason: failed };
  // Not mesh-compose's default name: hive-gateway would load that one too, as its own config.
  const configFile = `catalog-${source}.compose.mjs`;
  const [loaderPackage, loader] =
    source === "grpc"
      ? ["@omnigraph/grpc", "loadGrpcSubgraph"]
      : ["@omnigraph/json-schema", "loadJSONSchemaSubgraph"];
  // The config only hands the loader its options (kept here, in TypeScript, where they are
  // reviewed); written on each run, since bench/.hive is a cache.
  writeFileSync(
    join(dir, configFile),
    [
      'import { defineConfig } from "@graphql-mesh/compose-cli";',
      `import { ${loader} } from "${loaderPackage}";`,
      "const source = JSON.parse(process.env.BAZAAR_CATALOG_SOURCE);",
      `export const composeConfig = defineConfig({ subgraphs: [{ sourceHandler: ${loader}("Catalog", source) }] });`,
      "",
    ].join("\n"),
  );
  const options = source === "grpc" ? grpcSource(catalogUrl) : catalogSource(catalogUrl);
  const supergraph = join(workDir, `hive-${source}-supergraph.graphql`);
  // Both CLIs run in bench/.hive: mesh-compose reads a .env from its working directory, and
  // hive-gateway looks there for a gateway.config.* or mesh.config.*; none of the repository's.
  const compose = await runToExit(
    process.execPath,
    [bin("mesh-compose"), "--config-path", configFile, "--output", supergraph],
    {
      cwd: dir,
      env: { ...process.env, BAZAAR_CATALOG_SOURCE: JSON.stringify(options) },
      timeout: 120_000,
    },
  );
  if (compose.code !== 0 || !existsSync(supergraph)) {
    return { ok: false, reason: `mesh-compose failed: ${lastLine(compose.output)}` };
  }
  return {
    ok: true,
    cwd: dir,
    // One process (no cluster workers), as our gateway runs; Hive's defaults otherwise (no JIT:
    // it is opt-in there, where ours compiles each document; `JIT=true npm run bench:gateway`
    // turns Hive's on, since hive-gateway reads that variable).
    args: [process.execPath, bin("hive-gateway"), "supergraph", supergraph, "--fork", "1"],
  };
}

/** One install for both sources, and one reason when it fails (undefined when it worked). */
let installing: Promise<string | undefined> | undefined;

async function install(): Promise<string | undefined> {
  if (installed()) return undefined;
  process.stdout.write(`installing Hive Gateway ${hiveVersion} into bench/.hive (once) …\n`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "package.json"),
    `${JSON.stringify({ name: "bazaar-bench-hive", private: true, dependencies: pinned }, null, 2)}\n`,
  );
  // With its default retries npm tries an unreachable registry for over five minutes; with
  // one it gives up in under a minute (none at all would fail on any passing blip).
  const result = await runToExit(
    "npm",
    ["install", "--prefix", dir, "--no-audit", "--no-fund", "--fetch-retries=1"],
    { timeout: 300_000 },
  );
  if (result.code === null) return "npm install did not finish within 5 minutes";
  if (result.code !== 0 || !installed()) return `npm install failed: ${npmError(result.output)}`;
  return undefined;
}

/**
 * @omnigraph/grpc's options: the catalog's service generated from its .proto, called over gRPC
 * without TLS (h2c, which the catalog serves on the same port as Connect).
 */
function grpcSource(catalogUrl: string) {
  return {
    // grpc-js dials host:port, with no scheme.
    endpoint: new URL(catalogUrl).host,
    source: {
      file: join(protoDir, "bazaar/catalog/v1/catalog.proto"),
      // Where imports of our own files resolve, as buf's module root; google/protobuf/*.proto
      // are not in proto/ (buf has them built in) and come bundled with protobufjs.
      load: { includeDirs: [protoDir] },
    },
  };
}

/** @omnigraph/json-schema's options for the one field the benchmark asks for. */
function catalogSource(catalogUrl: string) {
  const product = {
    title: "Product",
    type: "object",
    properties: {
      id: { type: "string" },
      name: { type: "string" },
      description: { type: "string" },
      priceCents: { type: "string" },
      stock: { type: "integer" },
      createTime: { type: "string" },
    },
  };
  return {
    endpoint: catalogUrl,
    // Connect answers 415 to a POST without it.
    operationHeaders: { "content-type": "application/json" },
    operations: [
      {
        type: "Query",
        field: "products",
        path: "/bazaar.catalog.v1.CatalogService/ListProducts",
        method: "POST",
        requestTypeName: "ListProductsRequest",
        requestSchema: {
          type: "object",
          properties: { skip: { type: "integer" }, take: { type: "integer" } },
        },
        responseTypeName: "ListProductsResponse",
        responseSchema: {
          type: "object",
          properties: { products: { type: "array", items: product } },
        },
      },
    ],
  };
}

function installed(): boolean {
  return Object.entries(pinned).every(([name, version]) => {
    try {
      const manifest = readFileSync(join(dir, "node_modules", name, "package.json"), "utf8");
      return (JSON.parse(manifest) as { version?: string }).version === version;
    } catch {
      return false;
    }
  });
}

/**
 * The lines that say what went wrong ("code ECONNREFUSED; FetchError: request to … failed"):
 * npm's last lines only say where its log is.
 */
function npmError(output: string): string {
  const lines = output.split("\n");
  const errors = lines
    .map((line) => /^npm (?:error|ERR!) (code \S+|\w*Error\b.*)/.exec(line)?.[1])
    .filter((line) => line !== undefined);
  return errors.length ? errors.slice(0, 2).join("; ") : lastLine(output);
}

/** The last line worth reading, without colours or npm's warnings. */
function lastLine(output: string): string {
  const lines = stripVTControlCharacters(output)
    .split("\n")
    .filter((line) => line.trim() && !line.startsWith("npm warn"));
  return lines.at(-1)?.trim().slice(0, 300) ?? "no output";
}
