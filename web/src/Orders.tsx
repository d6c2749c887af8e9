// Order history, newest first, with names and prices as they were when ordered (the order
// keeps its own copy; today's catalog may differ).
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { skipToken, useQuery } from "@connectrpc/connect-query";
import { OrderService } from "../../gen/bazaar/order/v1/order_pb.js";
import { LoadError } from "./LoadError.js";
import { formatCents } from "./money.js";
import { useSession } from "./session.js";

const dateTime = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "short" });

export function Orders() {
  const session = useSession();
  const { data, error, refetch } = useQuery(
    OrderService.method.listOrdersForAccount,
    session ? { accountId: session.accountId } : skipToken,
  );
  if (!session) return <p>Sign in to see your orders.</p>;
  return (
    <section aria-labelledby="orders-title">
      <h2 id="orders-title">My orders</h2>
      {error && <LoadError error={error} retry={refetch} />}
      {data?.orders.length === 0 && <p>You have not ordered anything yet.</p>}
      {data?.orders.map((order) => (
        <article key={order.id} className="order" aria-label={`Order ${order.id}`}>
          <h3>
            Order of {order.createTime ? dateTime.format(timestampDate(order.createTime)) : "—"}
          </h3>
          <table className="lines">
            <tbody>
              {order.items.map((item) => (
                <tr key={item.productId}>
                  <td>{item.name}</td>
                  <td className="money">
                    {item.quantity} × {formatCents(item.unitPriceCents)}
                  </td>
                  <td className="money">
                    {formatCents(item.unitPriceCents * BigInt(item.quantity))}
                  </td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row" colSpan={2}>
                  Total
                </th>
                <td className="money total">{formatCents(order.totalCents)}</td>
              </tr>
            </tfoot>
          </table>
        </article>
      ))}
    </section>
  );
}
