// The Connect → GraphQL code mapping where the cause decides: a peer that dies mid-call.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CatalogService } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import { codeFor } from "./errors.js";

describe("codeFor", () => {
  // A peer that accepts the request and dies before answering.
  let dying: http.Server;
  let url: string;
  beforeAll(async () => {
    dying = http.createServer((req) => req.socket.destroy());
    await new Promise<void>((resolve) => dying.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(dying.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => dying.close(() => resolve())));

  it("makes a peer's socket hang-up (ABORTED from the transport) UNAVAILABLE", async () => {
    const client = createClient(
      CatalogService,
      createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
    );
    const error = await client.getProduct({ id: "x" }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.Aborted);
    expect(error && codeFor(error)).toBe("UNAVAILABLE");
  });

  it("leaves an ABORTED a service answered on purpose masked", () => {
    expect(codeFor(new ConnectError("conflict", Code.Aborted))).toBeUndefined();
  });
});
