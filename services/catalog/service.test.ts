// Every product RPC of CatalogService and its validation rules, through the in-memory router
// transport, on each real database.
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { uuidv7 } from "../../platform/data/ids.js";
import { aProduct, type CatalogTestbed, openCatalogTestbed, rejection } from "./testing.js";

describe("CatalogService products", () => {
  let bed: CatalogTestbed;

  beforeAll(async () => {
    bed = await openCatalogTestbed();
  });
  afterAll(() => bed?.close());

  async function expectViolation(promise: Promise<unknown>, field: string, message: RegExp) {
    const error = await rejection(promise);
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toContain(field);
    const [details] = error.findDetails(BadRequestSchema);
    const violation = details?.fieldViolations.find((v) => v.field === field);
    expect(violation?.description).toMatch(message);
  }

  describe("CreateProduct", () => {
    it("creates a product with a trimmed name, int64 price and a UUIDv7 id", async () => {
      const before = Date.now();
      const { product } = await bed.client.createProduct(
        {
          name: "  Walnut Desk Organiser  ",
          description: "Three trays.\nOiled walnut.",
          priceCents: 100_000_000n,
          stock: 1_000_000,
        },
        bed.as.admin,
      );
      expect(product?.name).toBe("Walnut Desk Organiser");
      expect(product?.description).toBe("Three trays.\nOiled walnut.");
      expect(product?.priceCents).toBe(100_000_000n);
      expect(product?.stock).toBe(1_000_000);
      expect(product?.id).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      const created = Number(product?.createTime?.seconds) * 1000;
      expect(created).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      const { product: read } = await bed.client.getProduct({ id: product?.id ?? "" });
      expect(read).toEqual(product);
    });

    it("accepts the smallest price, zero stock and an empty description", async () => {
      const { product } = await bed.client.createProduct(
        { name: "x", description: "", priceCents: 1n, stock: 0 },
        bed.as.admin,
      );
      expect(product?.priceCents).toBe(1n);
      expect(product?.stock).toBe(0);
    });

    it("needs an admin", async () => {
      const request = { name: "Nope", description: "", priceCents: 100n, stock: 1 };
      expect((await rejection(bed.client.createProduct(request))).code).toBe(Code.Unauthenticated);
      expect((await rejection(bed.client.createProduct(request, bed.as.customer))).code).toBe(
        Code.PermissionDenied,
      );
      expect((await rejection(bed.client.createProduct(request, bed.as.service))).code).toBe(
        Code.PermissionDenied,
      );
    });

    const valid = { name: "Mug", description: "", priceCents: 500n, stock: 3 };
    it.each([
      ["an empty name", { ...valid, name: "" }, "name", /1 to 200 characters/],
      ["a blank name", { ...valid, name: "    " }, "name", /1 to 200 characters/],
      ["a 201-character name", { ...valid, name: "n".repeat(201) }, "name", /1 to 200/],
      ["a name with a line break", { ...valid, name: "Two\nLines" }, "name", /line breaks/],
      [
        "a 5001-character description",
        { ...valid, description: "d".repeat(5001) },
        "description",
        /0 to 5000/,
      ],
      [
        "a control character in the description",
        { ...valid, description: "bell\u0007" },
        "description",
        /control characters/,
      ],
      ["a zero price", { ...valid, priceCents: 0n }, "price_cents", /1 to 100000000/],
      ["a negative price", { ...valid, priceCents: -5n }, "price_cents", /1 to 100000000/],
      [
        "a price above 100,000,000",
        { ...valid, priceCents: 100_000_001n },
        "price_cents",
        /1 to 100000000/,
      ],
      ["negative stock", { ...valid, stock: -1 }, "stock", /0 to 1000000/],
      ["stock above 1,000,000", { ...valid, stock: 1_000_001 }, "stock", /0 to 1000000/],
    ])("rejects %s", async (_label, request, field, message) => {
      await expectViolation(bed.client.createProduct(request, bed.as.admin), field, message);
    });

    it("counts characters, not UTF-16 units, and takes 5000-character descriptions", async () => {
      const { product } = await bed.client.createProduct(
        { name: "☕".repeat(200), description: "é".repeat(5000), priceCents: 250n, stock: 1 },
        bed.as.admin,
      );
      expect([...(product?.name ?? "")]).toHaveLength(200);
      expect(product?.description).toHaveLength(5000);
    });

    it("lists every violation at once", async () => {
      const error = await rejection(
        bed.client.createProduct(
          { name: "", description: "", priceCents: 0n, stock: -1 },
          bed.as.admin,
        ),
      );
      const [details] = error.findDetails(BadRequestSchema);
      expect(details?.fieldViolations.map((v) => v.field).sort()).toEqual([
        "name",
        "price_cents",
        "stock",
      ]);
    });
  });

  describe("GetProduct", () => {
    it("needs no token and answers NOT_FOUND naming an unknown id", async () => {
      const product = await aProduct(bed.store, { name: "Kettle" });
      expect((await bed.client.getProduct({ id: product.id })).product?.name).toBe("Kettle");
      const unknown = uuidv7();
      const error = await rejection(bed.client.getProduct({ id: unknown }));
      expect(error.code).toBe(Code.NotFound);
      expect(error.rawMessage).toContain(unknown);
    });

    it("accepts an upper-case id and rejects a malformed one", async () => {
      const product = await aProduct(bed.store);
      const { product: read } = await bed.client.getProduct({ id: product.id.toUpperCase() });
      expect(read?.id).toBe(product.id);
      await expectViolation(bed.client.getProduct({ id: "42" }), "id", /UUID/);
    });

    it("answers each of many parallel calls (they share statements) with its own product", async () => {
      const made = await Promise.all(
        Array.from({ length: 12 }, (_, i) => aProduct(bed.store, { name: `Parallel ${i}` })),
      );
      const unknown = Array.from({ length: 4 }, () => uuidv7());
      const asked = [
        ...made.map((p) => p.id),
        ...made.slice(0, 6).map((p) => p.id.toUpperCase()),
        ...unknown,
      ];
      const answers = await Promise.all(
        asked.map((id) =>
          bed.client.getProduct({ id }).then(
            ({ product }) => product?.name,
            (error: unknown) => Code[ConnectError.from(error).code],
          ),
        ),
      );
      expect(answers).toEqual([
        ...made.map((_, i) => `Parallel ${i}`),
        ...made.slice(0, 6).map((_, i) => `Parallel ${i}`),
        ...unknown.map(() => "NotFound"),
      ]);
    });
  });

  describe("BatchGetProducts", () => {
    it("answers in request order, leaving unknown and malformed ids out", async () => {
      const a = await aProduct(bed.store);
      const b = await aProduct(bed.store);
      const { products } = await bed.client.batchGetProducts({
        ids: [b.id, uuidv7(), "not-an-id", a.id, b.id],
      });
      expect(products.map((p) => p.id)).toEqual([b.id, a.id, b.id]);
      expect(products[0]?.priceCents).toBe(1000n);
      expect((await bed.client.batchGetProducts({ ids: [] })).products).toEqual([]);
    });

    it("refuses more than 1000 ids", async () => {
      await expectViolation(
        bed.client.batchGetProducts({ ids: Array.from({ length: 1001 }, () => uuidv7()) }),
        "ids",
        /at most 1000/,
      );
    });
  });

  describe("ListProducts", () => {
    it("answers parallel calls for the same and different pages each with its own page", async () => {
      const { products: all } = await bed.client.listProducts({ take: 100 });
      const pages = [
        [0, 5],
        [0, 5],
        [5, 5],
        [0, 3],
        [5, 5],
      ] as const;
      const answers = await Promise.all(
        pages.map(([skip, take]) => bed.client.listProducts({ skip, take })),
      );
      answers.forEach(({ products }, i) => {
        const [skip, take] = pages[i] as readonly [number, number];
        expect(products.map((p) => p.id)).toEqual(all.slice(skip, skip + take).map((p) => p.id));
      });
    });

    it("browses oldest first, 20 by default, and pages without gaps or repeats", async () => {
      for (let i = 0; i < 25; i++) await aProduct(bed.store);
      const everything = [];
      for (let skip = 0; ; skip += 7) {
        const { products } = await bed.client.listProducts({ skip, take: 7 });
        everything.push(...products);
        if (products.length < 7) break;
      }
      const ids = everything.map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBeGreaterThanOrEqual(25);
      const sorted = [...everything].sort(
        (x, y) =>
          Number(x.createTime?.seconds) - Number(y.createTime?.seconds) ||
          (x.createTime?.nanos ?? 0) - (y.createTime?.nanos ?? 0) ||
          (x.id < y.id ? -1 : 1),
      );
      expect(ids).toEqual(sorted.map((p) => p.id));
      expect((await bed.client.listProducts({})).products).toHaveLength(20);
      expect((await bed.client.listProducts({ take: 100 })).products.length).toBe(
        Math.min(100, ids.length),
      );
      expect((await bed.client.listProducts({ skip: 100_000 })).products).toEqual([]);
    });

    it.each([
      ["a negative skip", { skip: -1 }, "skip", /0 or more/],
      ["a negative take", { take: -1 }, "take", /1 to 100/],
      ["take above 100", { take: 101 }, "take", /1 to 100/],
      ["a 501-character query", { query: "q".repeat(501) }, "query", /0 to 500 characters/],
    ])("rejects %s", async (_label, request, field, message) => {
      await expectViolation(bed.client.listProducts(request), field, message);
    });
  });

  describe("UpdateProduct", () => {
    it("changes only the given fields", async () => {
      const product = await aProduct(bed.store, { name: "Old", description: "keep me" });
      const { product: renamed } = await bed.client.updateProduct(
        { id: product.id, name: " New ", stock: 0 },
        bed.as.admin,
      );
      expect(renamed).toMatchObject({ name: "New", description: "keep me", stock: 0 });
      expect(renamed?.priceCents).toBe(1000n);
      const { product: repriced } = await bed.client.updateProduct(
        { id: product.id, priceCents: 1999n, description: "" },
        bed.as.admin,
      );
      expect(repriced).toMatchObject({ name: "New", description: "", stock: 0 });
      expect(repriced?.priceCents).toBe(1999n);
      expect(repriced?.createTime).toEqual(renamed?.createTime);
      const { product: same } = await bed.client.updateProduct({ id: product.id }, bed.as.admin);
      expect(same).toEqual(repriced);
      expect((await bed.client.getProduct({ id: product.id })).product).toEqual(repriced);
    });

    it("restocks, and the new words are searchable at once", async () => {
      const product = await aProduct(bed.store, { name: "Plain thing", stock: 0 });
      await bed.client.updateProduct(
        { id: product.id, name: "Zanzibar clove jar", stock: 40 },
        bed.as.admin,
      );
      const { products } = await bed.client.listProducts({ query: "zanzibar" });
      expect(products.map((p) => [p.id, p.stock])).toEqual([[product.id, 40]]);
    });

    it("needs an admin, and answers NOT_FOUND for an unknown product", async () => {
      const product = await aProduct(bed.store);
      expect((await rejection(bed.client.updateProduct({ id: product.id, stock: 1 }))).code).toBe(
        Code.Unauthenticated,
      );
      expect(
        (await rejection(bed.client.updateProduct({ id: product.id, stock: 1 }, bed.as.customer)))
          .code,
      ).toBe(Code.PermissionDenied);
      const unknown = uuidv7();
      const error = await rejection(
        bed.client.updateProduct({ id: unknown, stock: 1 }, bed.as.admin),
      );
      expect(error.code).toBe(Code.NotFound);
      expect(error.rawMessage).toContain(unknown);
      const noChange = await rejection(bed.client.updateProduct({ id: unknown }, bed.as.admin));
      expect(noChange.code).toBe(Code.NotFound);
    });

    it.each([
      ["an empty name", { name: "" }, "name", /1 to 200/],
      [
        "a 5001-character description",
        { description: "d".repeat(5001) },
        "description",
        /0 to 5000/,
      ],
      ["a zero price", { priceCents: 0n }, "price_cents", /1 to 100000000/],
      ["stock above 1,000,000", { stock: 1_000_001 }, "stock", /0 to 1000000/],
      ["a malformed id", { id: "nope" }, "id", /UUID/],
    ])("rejects %s", async (_label, patch, field, message) => {
      const product = await aProduct(bed.store);
      await expectViolation(
        bed.client.updateProduct({ id: product.id, ...patch }, bed.as.admin),
        field,
        message,
      );
    });
  });
});
