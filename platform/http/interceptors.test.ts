import { Code, createClient } from "@connectrpc/connect";
import { afterAll, describe, expect, it } from "vitest";
import { CatalogService } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { openSql } from "../data/postgres-connection.js";
import { bearer, rejection, routerTransport, testAuthority } from "../testing.js";

// Real PostgreSQL errors, raised by the server with the SQLSTATE the case is about, travel
// through the same interceptors as a service's handlers.
describe("how a handler's database failure reaches the caller", () => {
  const sql = openSql(process.env.TEST_DATABASE_URL ?? "", { max: 2 });
  afterAll(() => sql.end());
  const { authority } = testAuthority();

  function failingWith(sqlstate: string) {
    const transport = routerTransport((router) => {
      router.service(CatalogService, {
        async getProduct() {
          await sql.unsafe(
            `do $$ begin raise exception 'raised for the test' using errcode = '${sqlstate}'; end $$`,
          );
          throw new Error("unreachable: the statement above always fails");
        },
      });
    }, authority);
    return createClient(CatalogService, transport);
  }

  async function callAs(sqlstate: string) {
    const token = await authority.issueServiceToken("order");
    return rejection(failingWith(sqlstate).getProduct({ id: "x" }, bearer(token)));
  }

  it("a deadlock victim or a serialization failure is ABORTED: rolled back whole, retry it", async () => {
    for (const sqlstate of ["40P01", "40001"]) {
      const error = await callAs(sqlstate);
      expect(error.code).toBe(Code.Aborted);
      expect(error.rawMessage).toBe("a concurrent change conflicted; try again");
    }
  });

  it("a connection the server shut is UNAVAILABLE; anything else INTERNAL, hiding the SQL", async () => {
    expect((await callAs("57P01")).code).toBe(Code.Unavailable);
    const other = await callAs("22012");
    expect(other.code).toBe(Code.Internal);
    expect(other.rawMessage).toBe("internal error");
    expect(other.rawMessage).not.toContain("raised for the test");
  });
});
