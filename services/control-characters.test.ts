// Characters no field accepts (issue 9 item 13): NUL and other C0 controls, DEL, C1 controls and
// unpaired surrogates are refused as INVALID_ARGUMENT naming the field, by every service, before
// they reach SQL. Tab and line breaks stay legal where the field's own rule allows them.
import { Code, ConnectError } from "@connectrpc/connect";
import * as v from "valibot";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freeText, validate } from "../platform/http/validation.js";
import { rejection } from "../platform/testing.js";
import {
  adminAuth,
  customer,
  type OrderTestbed,
  openOrderTestbed,
  product,
} from "./order/testing.js";

const controls = ["\u0000", "\u0007", "\u001b[31m", "\u007f", "\u0085"];
// Protobuf binary cannot carry an unpaired surrogate (the encoder writes U+FFFD): only JSON
// can, which the property suite (fuzz.test.ts) sends over Connect JSON.
const hostile = [...controls, "\ud800", "x\udc00y"];

async function refusedNaming(call: Promise<unknown>, field: string): Promise<void> {
  const error = await rejection(call);
  expect({ code: error.code, field }).toEqual({ code: Code.InvalidArgument, field });
  expect(error.rawMessage).toContain(`${field}:`);
  expect(error.rawMessage).not.toMatch(/select|insert|update|postgres/i);
}

describe("validate", () => {
  it("finds a forbidden character in any string, nested or in a list, and names it", () => {
    const schema = v.object({ items: v.array(v.object({ productId: v.string() })) });
    for (const bad of hostile) {
      const error = (() => {
        try {
          validate(schema, { items: [{ productId: "a" }, { productId: `a${bad}` }] });
        } catch (e) {
          return e as ConnectError;
        }
      })();
      expect(error).toBeInstanceOf(ConnectError);
      expect(error?.rawMessage).toBe(
        "invalid request: items[1].product_id: must not contain control characters or unpaired surrogates",
      );
    }
  });

  it("leaves tab, line breaks and paired surrogates to the field's own rule", () => {
    expect(validate(v.object({ d: freeText(100) }), { d: "a\tb\r\nc 😀" })).toEqual({
      d: "a\tb\r\nc 😀",
    });
  });
});

describe("every service refuses them", () => {
  let h: OrderTestbed;
  let admin: Awaited<ReturnType<typeof adminAuth>>;
  beforeAll(async () => {
    h = await openOrderTestbed();
    admin = await adminAuth(h.authority);
  });
  afterAll(() => h?.close());

  it("account: create, login, update", async () => {
    const ada = await customer(h.accounts, h.authority);
    for (const bad of controls) {
      await refusedNaming(
        h.accounts.createAccount({
          name: `Ada${bad}`,
          email: "a@example.com",
          password: "long enough",
        }),
        "name",
      );
      await refusedNaming(
        h.accounts.login({ email: `admin${bad}@example.com`, password: "x" }),
        "email",
      );
      await refusedNaming(
        h.accounts.updateAccount({ id: ada.id, currentPassword: `p${bad}` }, ada.auth),
        "current_password",
      );
    }
  });

  it("catalog: create, list, batch-get", async () => {
    for (const bad of controls) {
      await refusedNaming(
        h.catalog.createProduct(
          { name: "Kettle", description: `Boils${bad}`, priceCents: 100n, stock: 1 },
          admin,
        ),
        "description",
      );
      await refusedNaming(h.catalog.listProducts({ query: `tea${bad}` }), "query");
      await refusedNaming(h.catalog.batchGetProducts({ ids: [`id${bad}`] }), "ids[0]");
    }
  });

  it("order: create with a bad idempotency key or product id", async () => {
    const ada = await customer(h.accounts, h.authority);
    const p = await product(h.catalog, admin, 100, 5);
    for (const bad of controls) {
      await refusedNaming(
        h.orders.createOrder(
          { items: [{ productId: p, quantity: 1 }], idempotencyKey: `key${bad}` },
          ada.auth,
        ),
        "idempotency_key",
      );
      await refusedNaming(
        h.orders.createOrder({ items: [{ productId: `${p}${bad}`, quantity: 1 }] }, ada.auth),
        "items[0].product_id",
      );
    }
  });
});
