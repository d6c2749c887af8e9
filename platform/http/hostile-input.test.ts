// The platform server against hostile clients: requests connect-node cannot take, bodies it
// cannot decode (over Connect JSON, Connect binary, gRPC and gRPC-Web), and clients that hold
// HTTP/2 connections and streams. Every one gets a client error and the server keeps serving.
import http2 from "node:http2";
import net from "node:net";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CatalogService,
  file_bazaar_catalog_v1_catalog,
  GetProductRequestSchema,
} from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { HealthCheckRequestSchema } from "../../gen/grpc/health/v1/health_pb.js";
import { createLogger } from "../observability/logger.js";
import { createMetrics } from "../observability/metrics.js";
import { grpcExchange, keepAliveExchange, testAuthority } from "../testing.js";
import type { ConnectionLimits } from "./connection-limits.js";
import { type RunningServer, serve } from "./server.js";

const getProduct = "/bazaar.catalog.v1.CatalogService/GetProduct";
const watch = "/grpc.health.v1.Health/Watch";

async function startServer(limits: Partial<ConnectionLimits> = {}) {
  const metrics = createMetrics("test");
  const server = await serve({
    routes: (router) =>
      router.service(CatalogService, {
        async getProduct(req) {
          return { product: { id: req.id, name: "a product" } };
        },
      }),
    files: [file_bazaar_catalog_v1_catalog],
    serviceNames: ["bazaar.catalog.v1.CatalogService"],
    authority: testAuthority().authority,
    logger: createLogger({ service: "test", level: "silent", pretty: false }),
    metrics,
    ready: async () => {},
    corsOrigins: [],
    maxMessageBytes: 1024 * 1024,
    host: "127.0.0.1",
    port: 0,
    limits,
  });
  return { server, metrics };
}

/** What a raw socket gets back for `request`, until the server closes the connection. */
function rawExchange(port: number, request: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(request));
    let text = "";
    socket.on("data", (chunk) => {
      text += chunk;
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(text));
  });
}

const envelope = (body: Uint8Array, flags = 0) => {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
};

/** One gRPC call over a fresh HTTP/2 connection. */
async function grpcCall(
  url: string,
  path: string,
  body: Buffer,
  headers: Record<string, string> = {},
) {
  const session = http2.connect(url);
  try {
    return await grpcExchange(session, path, body, headers);
  } finally {
    session.close();
  }
}

const message = (id: string) =>
  toBinary(GetProductRequestSchema, create(GetProductRequestSchema, { id }));

// Bytes of a GetProductRequest (field 1, string) that no parser accepts.
const malformedProtobuf: Record<string, Uint8Array> = {
  "a truncated message": Uint8Array.of(0x0a, 0x05, 0x61),
  "an invalid varint": Uint8Array.of(0x0a, ...new Array(10).fill(0xff), 0x01),
  "an illegal tag": Uint8Array.of(0x00, 0x01),
  "an illegal wire type": Uint8Array.of(0x0f),
  "invalid UTF-8 in a string": Uint8Array.of(0x0a, 0x02, 0xc3, 0x28),
};
const truncatedGzip = gzipSync(Buffer.from(JSON.stringify({ id: "x".repeat(100) }))).subarray(
  0,
  12,
);

describe("requests connect-node cannot take (issue 9 A)", () => {
  let server: RunningServer;
  beforeAll(async () => {
    ({ server } = await startServer());
  });
  afterAll(() => server.close(1_000));

  it("answers 400 to an HTTP/1.0 POST with no Host header, and keeps serving", async () => {
    const reply = await rawExchange(
      server.port,
      `POST ${getProduct} HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
    );
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect(reply).toContain('"code":"invalid_argument"');
    expect(reply).toContain("no Host header");
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it("answers 400 to a Host header that is not an authority", async () => {
    const reply = await rawExchange(
      server.port,
      `POST ${getProduct} HTTP/1.1\r\nHost: [\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
    );
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});

describe("bodies that do not decode are INVALID_ARGUMENT (issue 9 C)", () => {
  let server: RunningServer;
  let metrics: ReturnType<typeof createMetrics>;
  beforeAll(async () => {
    ({ server, metrics } = await startServer());
  });
  afterAll(() => server.close(1_000));

  const connectPost = (body: Uint8Array, contentType: string, headers = {}) =>
    fetch(`${server.url}${getProduct}`, {
      method: "POST",
      headers: { "content-type": contentType, ...headers },
      body: Buffer.from(body),
    });
  const expectInvalid = async (response: Response) => {
    const body = (await response.json()) as { code: string; message: string };
    expect({ status: response.status, code: body.code }).toEqual({
      status: 400,
      code: "invalid_argument",
    });
    expect(body.message).not.toMatch(/node_modules|\n\s+at /);
  };

  it("the sane request still works on every protocol", async () => {
    const ok = await connectPost(message("p1"), "application/proto");
    expect(ok.status).toBe(200);
    const grpc = await grpcCall(server.url, getProduct, envelope(message("p1")));
    expect(grpc.status).toBe("0");
  });

  for (const [name, bytes] of Object.entries(malformedProtobuf)) {
    it(`Connect binary: ${name}`, async () => {
      await expectInvalid(await connectPost(bytes, "application/proto"));
    });

    it(`Connect GET: ${name} as the message`, async () => {
      const query = `connect=v1&encoding=proto&base64=1&message=${Buffer.from(bytes).toString("base64url")}`;
      await expectInvalid(await fetch(`${server.url}${getProduct}?${query}`));
    });

    it(`gRPC: ${name}`, async () => {
      const { status, message } = await grpcCall(server.url, getProduct, envelope(bytes));
      expect(status).toBe("3");
      expect(message).not.toMatch(/node_modules/);
    });

    it(`gRPC-Web: ${name}`, async () => {
      const response = await fetch(`${server.url}${getProduct}`, {
        method: "POST",
        headers: { "content-type": "application/grpc-web+proto" },
        body: envelope(bytes),
      });
      const text = Buffer.from(await response.arrayBuffer()).toString("latin1");
      expect(response.headers.get("grpc-status") ?? text).toMatch(/grpc-status:\s*3|^3$/);
    });
  }

  it("Connect JSON: invalid UTF-8, truncated JSON and a body that does not decompress", async () => {
    await expectInvalid(
      await connectPost(Uint8Array.of(0x7b, 0x22, 0xc3, 0x28), "application/json"),
    );
    await expectInvalid(await connectPost(Buffer.from('{"id": "a'), "application/json"));
    await expectInvalid(
      await connectPost(truncatedGzip, "application/json", { "content-encoding": "gzip" }),
    );
    await expectInvalid(
      await connectPost(Buffer.from("not gzip at all"), "application/json", {
        "content-encoding": "gzip",
      }),
    );
  });

  it("gRPC and gRPC-Web: an error echoing a lone surrogate is still answered", async () => {
    // connect-es names the value it cannot decode in its message, which grpc-message
    // percent-encodes: a lone surrogate there used to throw, and the call never ended.
    const reserveStock = "/bazaar.catalog.v1.CatalogService/ReserveStock";
    const body = envelope(Buffer.from('{"items": [{"quantity": "\\ud800"}]}'));
    const web = await fetch(`${server.url}${reserveStock}`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+json" },
      body,
      signal: AbortSignal.timeout(5_000),
    });
    expect(Buffer.from(await web.arrayBuffer()).toString("latin1")).toMatch(/grpc-status: ?3\b/);
    const grpc = await grpcCall(server.url, reserveStock, body, {
      "content-type": "application/grpc+json",
    });
    expect(grpc.status).toBe("3");
    expect(grpc.message).toContain("\ufffd");
  });

  it("Connect GET: a message that is not base64, or not JSON", async () => {
    await expectInvalid(
      await fetch(
        `${server.url}${getProduct}?connect=v1&encoding=proto&base64=1&message=%21%21%21`,
      ),
    );
    await expectInvalid(
      await fetch(`${server.url}${getProduct}?connect=v1&encoding=json&message=%7B%22id`),
    );
  });

  it("gRPC: a compressed message that does not decompress", async () => {
    const { status } = await grpcCall(server.url, getProduct, envelope(truncatedGzip, 1), {
      "grpc-encoding": "gzip",
    });
    expect(status).toBe("3");
  });

  it("gRPC streaming (health Watch): a message that does not parse", async () => {
    const { status } = await grpcCall(server.url, watch, envelope(Uint8Array.of(0x0a, 0x05)));
    expect(status).toBe("3");
  });

  it("counts them in /metrics", async () => {
    await connectPost(Uint8Array.of(0x0a, 0x05, 0x61), "application/proto");
    const text = await metrics.registry.metrics();
    expect(text).toMatch(
      /rpc_server_handled_total\{grpc_service="bazaar.catalog.v1.CatalogService",grpc_method="GetProduct",grpc_code="InvalidArgument"[^}]*\} [1-9]/,
    );
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});

describe("a unary body longer than its first envelope, over HTTP/1.1 (issue 22)", () => {
  let server: RunningServer;
  beforeAll(async () => {
    ({ server } = await startServer());
  });
  afterAll(() => server.close(1_000));

  const post = (contentType: string, body: Uint8Array) =>
    Buffer.concat([
      Buffer.from(
        `POST ${getProduct} HTTP/1.1\r\nHost: test\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\n\r\n`,
      ),
      body,
    ]);
  const json = (id: string) => envelope(Buffer.from(JSON.stringify({ id })));
  // The shape: a 2-byte envelope, then 200,000 bytes more (read as an envelope header,
  // they claim a message far past the limit).
  const padded = Buffer.concat([envelope(Buffer.from("{}")), Buffer.alloc(200_000, 0x41)]);

  for (const contentType of ["application/grpc-web+json", "application/grpc+json"]) {
    for (const [shape, body] of [
      ["a 2-byte envelope and 200,000 more bytes", padded],
      ["two messages", Buffer.concat([json("p1"), json("p2")])],
      ["a message and half an envelope", Buffer.concat([json("p1"), Buffer.from([0, 0, 0])])],
    ] as const) {
      it(`${contentType}, ${shape}: refused, the next request answered or refused at once`, async () => {
        const answer = await keepAliveExchange(server.port, post(contentType, body));
        expect(answer.first).toMatch(/^HTTP\/1\.1 200/);
        // RESOURCE_EXHAUSTED (the claimed length), or UNIMPLEMENTED (a second message), or
        // INVALID_ARGUMENT: a client error, never OK for a call that is not one.
        expect(answer.first).toMatch(/grpc-status: ?(3|8|12)\b/);
        expect([200, "closed"]).toContain(answer.second);
        expect(answer.secondMs).toBeLessThan(1_000);
      });
    }

    it(`${contentType}, one message: answered, and the connection kept for the next`, async () => {
      const answer = await keepAliveExchange(server.port, post(contentType, json("p1")));
      expect(answer.first).toMatch(/grpc-status: ?0\b/);
      expect(answer.second).toBe(200);
    });
  }

  it("Connect JSON past the message limit: refused, the next request answered or refused at once", async () => {
    const body = Buffer.from(JSON.stringify({ id: "x".repeat(2 * 1024 * 1024) }));
    const answer = await keepAliveExchange(server.port, post("application/json", body));
    expect(answer.first).toMatch(/^HTTP\/1\.1 4\d\d/);
    expect([200, "closed"]).toContain(answer.second);
    expect(answer.secondMs).toBeLessThan(1_000);
  });
});

describe("HTTP/2 and connection limits (issue 9 item 14)", () => {
  const watchBody = envelope(
    toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: "" })),
  );

  it("advertises at most 100 concurrent streams and accepts no more on one connection", async () => {
    const { server } = await startServer();
    const session = http2.connect(server.url);
    try {
      const settings = await new Promise<http2.Settings>((resolve) =>
        session.once("remoteSettings", resolve),
      );
      expect(settings.maxConcurrentStreams).toBe(100);
      let accepted = 0;
      for (let i = 0; i < 500; i++) {
        const stream = session.request({
          ":method": "POST",
          ":path": watch,
          "content-type": "application/grpc+proto",
          te: "trailers",
        });
        stream.on("response", () => accepted++);
        stream.on("error", () => {});
        stream.on("data", () => {});
        stream.end(watchBody);
      }
      await new Promise((r) => setTimeout(r, 1_000));
      expect(accepted).toBeGreaterThan(0);
      expect(accepted).toBeLessThanOrEqual(100);
    } finally {
      session.destroy();
      await server.close(500);
    }
  });

  it("refuses Watch streams past the per-process cap, over any number of connections", async () => {
    const { server } = await startServer({ maxOpenStreams: 10 });
    const sessions = [http2.connect(server.url), http2.connect(server.url)];
    try {
      const statuses: string[] = [];
      let serving = 0;
      for (let i = 0; i < 30; i++) {
        const session = sessions[i % 2] as http2.ClientHttp2Session;
        const stream = session.request({
          ":method": "POST",
          ":path": watch,
          "content-type": "application/grpc+proto",
          te: "trailers",
        });
        stream.on("response", (h) => {
          if (h["grpc-status"]) statuses.push(String(h["grpc-status"]));
        });
        stream.on("trailers", (h) => statuses.push(String(h["grpc-status"])));
        stream.on("data", () => serving++);
        stream.on("error", () => {});
        stream.end(watchBody);
      }
      await new Promise((r) => setTimeout(r, 1_000));
      expect(serving).toBe(10);
      expect(statuses).toEqual(new Array(20).fill("8")); // RESOURCE_EXHAUSTED
    } finally {
      for (const session of sessions) session.destroy();
      await server.close(500);
    }
  });

  it("closes a connection that sent only the HTTP/2 preface", async () => {
    const { server } = await startServer({ http2FirstStreamMs: 300 });
    try {
      const started = Date.now();
      await rawExchange(server.port, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await server.close(500);
    }
  });

  it("closes an HTTP/2 connection once it has had no stream open for a while", async () => {
    const { server } = await startServer({ http2IdleMs: 300 });
    const session = http2.connect(server.url);
    try {
      const closed = new Promise<number>((resolve) =>
        session.once("close", () => resolve(Date.now())),
      );
      const call = await grpcExchange(session, getProduct, envelope(message("p1")));
      expect(call.status).toBe("0");
      const done = Date.now();
      expect((await closed) - done).toBeLessThan(3_000);
    } finally {
      session.destroy();
      await server.close(500);
    }
  });

  it("closes connections past the per-process cap", async () => {
    const { server } = await startServer({ maxConnections: 2 });
    const held = [net.connect(server.port, "127.0.0.1"), net.connect(server.port, "127.0.0.1")];
    try {
      await Promise.all(held.map((s) => new Promise((r) => s.once("connect", r))));
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      const reply = await rawExchange(server.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      expect(reply).toBe("");
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      for (const socket of held) socket.destroy();
      await server.close(500);
    }
  });
});
