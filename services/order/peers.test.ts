// Peer calls that cannot succeed end quickly as UNAVAILABLE, over both protocols: a refused
// connection, and a peer that accepts and never answers (the deadline).
import net from "node:net";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CatalogService } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { rejection } from "../../platform/testing.js";
import { httpPeerTransports } from "./peer-transport.js";
import { createPeers, type Peers } from "./peers.js";

async function listen(server: net.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as net.AddressInfo;
  return `http://127.0.0.1:${address.port}`;
}

describe.each(["connect", "grpc"] as const)("peers over %s", (protocol) => {
  const sockets = new Set<net.Socket>();
  // Accepts connections, reads everything, answers nothing.
  const silent = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("data", () => {});
  });
  let refusedUrl: string;
  let peers: Peers;

  beforeAll(async () => {
    const closed = net.createServer();
    refusedUrl = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    peers = createPeers(
      httpPeerTransports({
        ACCOUNT_URL: refusedUrl,
        CATALOG_URL: await listen(silent),
        PEER_PROTOCOL: protocol,
      }),
      { token: async () => "token", timeoutMs: 300 },
    );
  });

  afterAll(async () => {
    await peers.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it("turns a refused connection into UNAVAILABLE", async () => {
    const error = await rejection(
      peers.account.getAccount({ id: "x" }, peers.callOptions("req-1")),
    );
    expect(error.code).toBe(Code.Unavailable);
    expect(error.rawMessage).toContain("account service");
  });

  it("turns a peer that never answers into UNAVAILABLE at the deadline", async () => {
    const started = Date.now();
    const error = await rejection(
      peers.catalog.batchGetProducts({ ids: [] }, peers.callOptions("req-2")),
    );
    expect(error.code).toBe(Code.Unavailable);
    expect(error.rawMessage).toContain("catalog service did not answer in time");
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe("peer retries and deadlines", () => {
  const unavailable = () => new ConnectError("down", Code.Unavailable);
  /** A catalog whose every method fails `failures` times, then answers; counts the calls. */
  function flakyCatalog(failures: number) {
    const calls: Record<string, number> = {};
    const seen = (name: string) => {
      calls[name] = (calls[name] ?? 0) + 1;
      if ((calls[name] ?? 0) <= failures) throw unavailable();
    };
    const transport = createRouterTransport(({ service }) =>
      service(CatalogService, {
        batchGetProducts: () => {
          seen("BatchGetProducts");
          return { products: [] };
        },
        reserveStock: () => {
          seen("ReserveStock");
          return {};
        },
        createProduct: () => {
          seen("CreateProduct");
          return {};
        },
      }),
    );
    const peers = createPeers(
      { account: transport, catalog: transport },
      {
        token: async () => "t",
        timeoutMs: 1_000,
        retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
      },
    );
    return { peers, calls };
  }

  it("retries idempotent calls that got no answer, up to the bound", async () => {
    const { peers, calls } = flakyCatalog(2);
    await peers.catalog.batchGetProducts({ ids: [] }, peers.callOptions("r"));
    await peers.catalog.reserveStock({ orderId: "o", items: [] }, peers.callOptions("r"));
    expect(calls).toEqual({ BatchGetProducts: 3, ReserveStock: 3 });

    const down = flakyCatalog(5);
    const error = await rejection(
      down.peers.catalog.batchGetProducts({ ids: [] }, down.peers.callOptions("r")),
    );
    expect(error.code).toBe(Code.Unavailable);
    expect(down.calls.BatchGetProducts).toBe(3);
  });

  it("never retries a call that is not idempotent", async () => {
    const { peers, calls } = flakyCatalog(1);
    const error = await rejection(peers.catalog.createProduct({}, peers.callOptions("r")));
    expect(error.code).toBe(Code.Unavailable);
    expect(calls.CreateProduct).toBe(1);
  });

  it("gives a peer call no more than the time its own caller has left", async () => {
    const seen: (number | undefined)[] = [];
    const transport = createRouterTransport(({ service }) =>
      service(CatalogService, {
        batchGetProducts: (_req, ctx) => {
          seen.push(ctx.timeoutMs());
          return { products: [] };
        },
      }),
    );
    const peers = createPeers(
      { account: transport, catalog: transport },
      { token: async () => "t", timeoutMs: 3_000 },
    );
    await peers.catalog.batchGetProducts({ ids: [] }, peers.callOptions("r"));
    const options = peers.callOptions("r", Date.now() + 200);
    await peers.catalog.batchGetProducts({ ids: [] }, options);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await peers.catalog.batchGetProducts({ ids: [] }, options);
    expect(seen[0]).toBeGreaterThan(2_900);
    expect(seen[1]).toBeLessThanOrEqual(200);
    expect(seen[1]).toBeGreaterThan(100);
    // Reckoned at each call: the same options have less left later.
    expect(seen[2]).toBeLessThanOrEqual(110);
  });
});
