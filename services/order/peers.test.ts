// Peer calls that cannot succeed end quickly as UNAVAILABLE, over both protocols: a refused
// connection, and a peer that accepts and never answers (the deadline).
import net from "node:net";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rejection } from "../../platform/testing.js";
import { createPeers, httpPeerTransports, type Peers } from "./peers.js";

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
