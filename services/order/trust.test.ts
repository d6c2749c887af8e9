// Who can sign what (issue 9, item 16): only the account service's key makes user tokens that
// anyone accepts, and each internal RPC takes only the service it names.
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenSigner } from "../../platform/auth/auth.js";
import { TestAuthority } from "../../platform/auth/auth-testing.js";
import { uuidv7 } from "../../platform/data/ids.js";
import { bearer, rejection } from "../../platform/testing.js";
import { adminAuth, customer, type OrderTestbed, openOrderTestbed, product } from "./testing.js";

describe("signing and callers", () => {
  let h: OrderTestbed;
  beforeAll(async () => {
    h = await openOrderTestbed();
  });
  afterAll(() => h?.close());

  it("refuses everywhere a user token signed by any key but the account service's", async () => {
    const ada = await customer(h.accounts, h.authority);
    const stranger = new TestAuthority();
    const forgers = [
      h.authority.signer("catalog"),
      h.authority.signer("order"),
      stranger.signer("account"),
    ];
    for (const signer of forgers) {
      const { token } = await signer.issueUserToken(ada.id, "admin", 0, 600);
      const calls = [
        () => h.accounts.listAccounts({}, bearer(token)),
        () => h.catalog.createProduct({ name: "Forged", priceCents: 1n, stock: 1 }, bearer(token)),
        () => h.orders.listOrdersForAccount({ accountId: ada.id }, bearer(token)),
      ];
      for (const call of calls) {
        const error = await rejection(call());
        expect(error.code).toBe(Code.Unauthenticated);
        expect(error.rawMessage).toMatch(/not signed by the account service|unknown key/);
      }
    }
    // The account service's own key is accepted by all three.
    const admin = await adminAuth(h.authority);
    expect((await h.accounts.listAccounts({}, admin)).accounts.length).toBeGreaterThan(0);
  });

  it("lets only the order service reserve, commit and release stock", async () => {
    const admin = await adminAuth(h.authority);
    const p = await product(h.catalog, admin, 100, 10);
    const orderId = uuidv7();
    const items = [{ productId: p, quantity: 1 }];
    for (const service of ["catalog", "account"] as const) {
      const asOther = bearer(await h.authority.issueServiceToken(service));
      for (const call of [
        () => h.catalog.reserveStock({ orderId, items }, asOther),
        () => h.catalog.commitReservation({ orderId }, asOther),
        () => h.catalog.releaseStock({ orderId }, asOther),
      ]) {
        const error = await rejection(call());
        expect(error.code).toBe(Code.PermissionDenied);
        expect(error.rawMessage).toMatch(/only the order service/);
      }
    }
    const asOrder = bearer(await h.authority.issueServiceToken("order"));
    const { reservation } = await h.catalog.reserveStock({ orderId, items }, asOrder);
    expect(reservation?.orderId).toBe(orderId);
    await h.catalog.releaseStock({ orderId }, asOrder);
  });

  it("refuses a service token whose subject is not its key's owner", async () => {
    // The catalog's key claiming to be the order service.
    const catalogKey = h.authority.keys.catalog.key;
    const lying = new TokenSigner({ ...catalogKey, service: "order" });
    const error = await rejection(
      h.catalog.reserveStock(
        { orderId: uuidv7(), items: [] },
        bearer(await lying.issueServiceToken()),
      ),
    );
    expect(error.code).toBe(Code.Unauthenticated);
  });

  it("lets only the order service read accounts as a service", async () => {
    const ada = await customer(h.accounts, h.authority);
    const asCatalog = bearer(await h.authority.issueServiceToken("catalog"));
    expect((await rejection(h.accounts.getAccount({ id: ada.id }, asCatalog))).code).toBe(
      Code.PermissionDenied,
    );
    const asOrder = bearer(await h.authority.issueServiceToken("order"));
    expect((await h.accounts.getAccount({ id: ada.id }, asOrder)).account?.id).toBe(ada.id);
    // Token versions: the order and catalog services may ask; users may not.
    expect((await h.accounts.getTokenVersion({ accountId: ada.id }, asCatalog)).tokenVersion).toBe(
      0,
    );
    expect(
      (await rejection(h.accounts.getTokenVersion({ accountId: ada.id }, ada.auth))).code,
    ).toBe(Code.PermissionDenied);
  });
});
