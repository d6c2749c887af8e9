// The order rules without I/O: merging, pricing in exact cents, who orders for whom, which
// status changes a placed order allows, config.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../platform/config.js";
import { loadOrderConfig } from "./config.js";
import {
  mergeLines,
  orderingAccount,
  type PricedProduct,
  priceOrder,
  unchangedAnswer,
} from "./domain.js";

const a = "0190a000-0000-7000-8000-00000000000a";
const b = "0190a000-0000-7000-8000-00000000000b";

describe("mergeLines", () => {
  it("sums repeated products in first-seen order", () => {
    expect(
      mergeLines([
        { productId: b, quantity: 2 },
        { productId: a, quantity: 1 },
        { productId: b, quantity: 3 },
      ]),
    ).toEqual({
      items: [
        { productId: b, quantity: 5 },
        { productId: a, quantity: 1 },
      ],
    });
  });

  it("names a product whose merged quantity exceeds 1000", () => {
    expect(
      mergeLines([
        { productId: a, quantity: 1000 },
        { productId: a, quantity: 1 },
      ]),
    ).toEqual({ tooMany: { productId: a, quantity: 1001 } });
  });
});

describe("priceOrder", () => {
  const product = (id: string, priceCents: bigint): PricedProduct => ({
    id,
    name: `name ${id}`,
    description: "d",
    priceCents,
  });

  it("adds 0.10 and 0.20 to exactly 0.30", () => {
    const products = new Map([
      [a, product(a, 10n)],
      [b, product(b, 20n)],
    ]);
    const priced = priceOrder(
      [
        { productId: a, quantity: 1 },
        { productId: b, quantity: 1 },
      ],
      products,
    );
    expect(priced.totalCents).toBe(30n);
    expect(priced.items.map((i) => i.unitPriceCents)).toEqual([10n, 20n]);
  });

  it("stays exact at the largest possible order", () => {
    const ids = Array.from({ length: 100 }, (_, i) => `${i}`);
    const products = new Map(ids.map((id) => [id, product(id, 100_000_000n)]));
    const priced = priceOrder(
      ids.map((productId) => ({ productId, quantity: 1000 })),
      products,
    );
    expect(priced.totalCents).toBe(10_000_000_000_000n);
  });
});

describe("orderingAccount", () => {
  it("lets a customer order only for itself, and an empty id means the caller", () => {
    const ada = { kind: "user", accountId: a, role: "customer" } as const;
    expect(orderingAccount(ada, "")).toEqual({ accountId: a });
    expect(orderingAccount(ada, a)).toEqual({ accountId: a });
    expect(orderingAccount(ada, b)).toHaveProperty("denied");
  });

  it("lets an admin order for anyone, and a service only for someone named", () => {
    const admin = { kind: "user", accountId: a, role: "admin" } as const;
    expect(orderingAccount(admin, b)).toEqual({ accountId: b });
    const service = { kind: "service", service: "catalog" } as const;
    expect(orderingAccount(service, b)).toEqual({ accountId: b });
    expect(orderingAccount(service, "")).toEqual({ missing: true });
  });
});

describe("loadOrderConfig", () => {
  it("defaults to port 50053 and the local peers over Connect", () => {
    const config = loadOrderConfig({});
    expect(config).toMatchObject({
      PORT: 50053,
      ACCOUNT_URL: "http://localhost:50051",
      CATALOG_URL: "http://localhost:50052",
      PEER_PROTOCOL: "connect",
    });
  });

  it("names each bad variable", () => {
    expect(() =>
      loadOrderConfig({ CATALOG_URL: "nope", PEER_TIMEOUT_MS: "0", PEER_PROTOCOL: "smoke" }),
    ).toThrow(ConfigError);
    try {
      loadOrderConfig({ CATALOG_URL: "nope", PEER_TIMEOUT_MS: "0", PEER_PROTOCOL: "smoke" });
    } catch (error) {
      const message = (error as Error).message;
      for (const name of ["CATALOG_URL", "PEER_TIMEOUT_MS", "PEER_PROTOCOL"]) {
        expect(message).toContain(name);
      }
    }
  });
});

describe("unchangedAnswer", () => {
  it("answers a repeat unchanged and refuses the other ending, naming it", () => {
    expect(unchangedAnswer("cancel", "cancelled")).toEqual({ unchanged: true });
    expect(unchangedAnswer("ship", "shipped")).toEqual({ unchanged: true });
    expect(unchangedAnswer("cancel", "shipped")).toEqual({ refused: "shipped" });
    expect(unchangedAnswer("ship", "cancelled")).toEqual({ refused: "cancelled" });
  });
});
