// Order history, newest first, with names and prices as they were when ordered (the order
// keeps its own copy; today's catalog may differ), each order's status, and cancelling an
// order that has not shipped yet, after the shopper confirms it. Statuses stay live (WatchOrders):
// an order shipped or cancelled elsewhere changes here without a reload.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createConnectQueryKey, skipToken, useMutation, useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { type Order, OrderService, OrderStatus } from "../../gen/bazaar/order/v1/order_pb.js";
import { describeError } from "./errors.js";
import { LoadError } from "./LoadError.js";
import { useLiveOrders } from "./live.js";
import { formatCents } from "./money.js";
import { useSession } from "./session.js";

const dateTime = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "short" });

const statusLabels: Record<OrderStatus, string> = {
  // An order service from before statuses knew only placed orders.
  [OrderStatus.UNSPECIFIED]: "Placed",
  [OrderStatus.PLACED]: "Placed",
  [OrderStatus.SHIPPED]: "Shipped",
  [OrderStatus.CANCELLED]: "Cancelled",
};

export function Orders() {
  const session = useSession();
  const { data, error, refetch } = useQuery(
    OrderService.method.listOrdersForAccount,
    session ? { accountId: session.accountId } : skipToken,
  );
  useLiveOrders(data?.orders.map((order) => order.id) ?? []);
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
          <OrderState order={order} />
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

/** The order's status, and while it is PLACED a "Cancel order" that asks before it acts. */
function OrderState({ order }: { order: Order }) {
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const cancelOrder = useMutation(OrderService.method.cancelOrder, {
    onSuccess: () =>
      queryClient.invalidateQueries({
        queryKey: createConnectQueryKey({
          schema: OrderService.method.listOrdersForAccount,
          cardinality: undefined,
        }),
      }),
  });
  const cancel = async () => {
    setProblem(null);
    try {
      await cancelOrder.mutateAsync({ id: order.id, reason: "" });
      setConfirming(false);
    } catch (error) {
      setProblem(describeError(error).message);
    }
  };
  const since = order.updateTime ? dateTime.format(timestampDate(order.updateTime)) : undefined;
  const label = statusLabels[order.status];
  return (
    <div className="order-state">
      <p className={`status status-${label.toLowerCase()}`}>
        <span className="status-label">{label}</span>
        {order.status !== OrderStatus.PLACED && since && ` on ${since}`}
      </p>
      {order.status === OrderStatus.PLACED && !confirming && (
        <button type="button" className="link" onClick={() => setConfirming(true)}>
          Cancel order
        </button>
      )}
      {order.status === OrderStatus.PLACED && confirming && (
        <fieldset aria-label="Confirm cancelling this order" className="confirm">
          <p>Cancel this order? Its items go back on sale.</p>
          <button type="button" onClick={() => void cancel()} disabled={cancelOrder.isPending}>
            Yes, cancel order
          </button>{" "}
          <button type="button" className="link" onClick={() => setConfirming(false)}>
            Keep order
          </button>
        </fieldset>
      )}
      {problem && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
    </div>
  );
}
