// GraphiQL on GET /graphql, fully offline: @graphql-yoga/render-graphiql inlines its CSS, JS and
// editor workers (~9 MB), where Yoga's default page loads them from a public CDN. The page is
// rendered and compressed once, then served from memory with an ETag, always compressed.
//
// Rendering happens in a short-lived child process: loading the package and compressing its
// output costs ~100 MB of heap. In a worker thread the gateway's RSS kept ~30 MB of it for good
// (the allocator holds on to the thread's arenas); a process gives all of it back when it exits.
// The gateway keeps only the two compressed copies (~4 MB).
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import type { renderGraphiQL } from "@graphql-yoga/render-graphiql";

type RenderOptions = Parameters<typeof renderGraphiQL>[0];

// Plain CommonJS, so the child needs no TypeScript loader (tsx, vitest) to run. It reads its
// input from the IPC channel and answers on it ("advanced" serialization carries Buffers).
const renderInChild = `
const { createHash } = require("node:crypto");
const zlib = require("node:zlib");
process.once("message", ({ renderer, options }) => {
  const { renderGraphiQL } = require(renderer);
  const html = Buffer.from(renderGraphiQL(options), "utf8");
  // Brotli quality 5: ~10x faster than the maximum on 9 MB, and within a few % of its size.
  const br = zlib.brotliCompressSync(html, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } });
  const gzip = zlib.gzipSync(html, { level: 6 });
  const etag = '"' + createHash("sha256").update(html).digest("base64url").slice(0, 27) + '"';
  process.send({ etag, gzip, br }, () => process.disconnect());
});
`;

function renderPage(options: RenderOptions): Promise<Page> {
  const renderer = createRequire(import.meta.url).resolve("@graphql-yoga/render-graphiql");
  return new Promise((resolve, reject) => {
    // No loader hooks or flags inherited: the script is plain JavaScript.
    const child = spawn(process.execPath, ["-e", renderInChild], {
      stdio: ["ignore", "ignore", "inherit", "ipc"],
      serialization: "advanced",
      env: { PATH: process.env.PATH ?? "" },
    });
    let page: Page | undefined;
    child.once("message", (answer) => {
      const sent = answer as { etag: string; gzip: Uint8Array; br: Uint8Array };
      page = { etag: sent.etag, gzip: Buffer.from(sent.gzip), br: Buffer.from(sent.br) };
    });
    child.once("error", reject);
    child.once("exit", (code, signal) =>
      page
        ? resolve(page)
        : reject(new Error(`the GraphiQL renderer exited with ${signal ?? code}`)),
    );
    child.send({ renderer, options });
  });
}

export const defaultQuery = `# Welcome to Bazaar's GraphQL API. The Docs pane (top left) describes every field.
#
# 1. Run "Products" with the ▶ button (or Ctrl-Enter): products need no sign-in.
# 2. Run "Login" (▶ offers each operation of this document) and copy the token into the
#    Headers pane below as {"Authorization": "Bearer <token>"}. The password is the
#    development default that \`npm start\` prints; yours if you set ADMIN_PASSWORD.
# 3. Put a product's id from step 1 into "Order" and run it, then run "MyOrders".

query Products {
  products(pagination: { skip: 0, take: 10 }) {
    id
    name
    price
    stock
  }
}

mutation Login {
  login(email: "admin@example.com", password: "bazaar-admin") {
    token
  }
}

mutation Order {
  createOrder(
    order: {
      # The product's field is "id" (the Product.id from "Products"), not "productId".
      products: [{ id: "<a product id from Products>", quantity: 1 }]
      # The same key again returns the same order: change it for a new one.
      idempotencyKey: "my-first-order"
    }
  ) {
    id
    totalPrice
    products {
      name
      price
      quantity
    }
  }
}

query MyOrders {
  me {
    name
    orders {
      createdAt
      totalPrice
      products {
        name
        quantity
      }
    }
  }
}
`;

interface Page {
  etag: string;
  gzip: Buffer;
  br: Buffer;
}

export class GraphiQLPage {
  #page: Promise<Page> | undefined;

  constructor(readonly endpoint: string) {}

  /** Renders and compresses the page; call at start-up so the first visitor does not wait. */
  warm(): Promise<Page> {
    this.#page ??= renderPage({
      title: "Bazaar GraphiQL",
      endpoint: this.endpoint,
      defaultQuery,
      shouldPersistHeaders: true,
    }).catch((error: unknown) => {
      this.#page = undefined; // the next visitor tries again
      throw error;
    });
    return this.#page;
  }

  async response(request: Request): Promise<Response> {
    const page = await this.warm();
    const headers: Record<string, string> = {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-cache",
      etag: page.etag,
      vary: "accept-encoding",
    };
    if (request.headers.get("if-none-match") === page.etag) {
      return new Response(null, { status: 304, headers });
    }
    // Never the 9 MB page uncompressed: without Accept-Encoding any coding is acceptable
    // (RFC 9110), so gzip; a client that accepts neither gzip nor br gets a short refusal.
    const accepted = request.headers.get("accept-encoding");
    let body: Buffer;
    if (accepted !== null && /\bbr\b/.test(accepted)) {
      body = page.br;
      headers["content-encoding"] = "br";
    } else if (accepted === null || /\bgzip\b|\*/.test(accepted)) {
      body = page.gzip;
      headers["content-encoding"] = "gzip";
    } else {
      return new Response("GraphiQL is served compressed only: accept gzip or br.\n", {
        status: 406,
        headers: { "content-type": "text/plain; charset=utf-8", vary: "accept-encoding" },
      });
    }
    headers["content-length"] = String(body.length);
    // A view, not a copy, of the cached bytes.
    const bytes = new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.byteLength);
    return new Response(bytes, { status: 200, headers });
  }
}

/** Yoga's rule: a browser navigating to the endpoint wants GraphiQL, not a GraphQL response. */
export function wantsGraphiQL(request: Request): boolean {
  return request.method === "GET" && (request.headers.get("accept") ?? "").includes("text/html");
}
