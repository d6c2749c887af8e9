// The basket and checkout. The order service prices the order itself; the total here is what
// the shopper sees before ordering. See basket.ts for the idempotency key.
import { createConnectQueryKey, useMutation } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { OrderService } from "../../gen/bazaar/order/v1/order_pb.js";
import { type BasketApi, basketTotal } from "./basket.js";
import { describeError, type Problem } from "./errors.js";
import { formatCents } from "./money.js";
import { useSession } from "./session.js";

export function BasketView({
  basket: { basket, setQuantity, clear },
  onSignIn,
  onOrdered,
}: {
  basket: BasketApi;
  onSignIn: () => void;
  onOrdered: () => void;
}) {
  const session = useSession();
  const queryClient = useQueryClient();
  const [problem, setProblem] = useState<Problem | null>(null);
  const createOrder = useMutation(OrderService.method.createOrder, {
    onSuccess: () =>
      queryClient.invalidateQueries({
        queryKey: createConnectQueryKey({
          schema: OrderService.method.listOrdersForAccount,
          cardinality: undefined,
        }),
      }),
  });
  const { lines } = basket;
  const fields = lines.map((_, i) => `items[${i}].quantity`);

  const checkout = async () => {
    // A second click while the first is on its way adds nothing; the key covers the rest.
    if (createOrder.isPending) return;
    setProblem(null);
    try {
      await createOrder.mutateAsync({
        items: lines.map((l) => ({ productId: l.productId, quantity: l.quantity })),
        idempotencyKey: basket.checkoutKey,
      });
      clear();
      onOrdered();
    } catch (error) {
      setProblem(
        describeError(error, {
          fields,
          productName: (id) => lines.find((l) => l.productId === id)?.name,
        }),
      );
    }
  };

  if (lines.length === 0) {
    return (
      <section>
        <h2>Basket</h2>
        <p>Your basket is empty.</p>
      </section>
    );
  }
  return (
    <section aria-labelledby="basket-title">
      <h2 id="basket-title">Basket</h2>
      <table className="lines">
        <thead>
          <tr>
            <th scope="col">Product</th>
            <th scope="col">Unit price</th>
            <th scope="col">Quantity</th>
            <th scope="col">Subtotal</th>
          </tr>
        </thead>
        <tbody>
          {lines.map((line, i) => {
            const message =
              problem?.fields[`items[${i}].quantity`] ??
              (problem?.productId === line.productId ? "Not enough in stock." : undefined);
            return (
              <tr key={line.productId} className={message ? "invalid" : undefined}>
                <td>{line.name}</td>
                <td className="money">{formatCents(line.unitPriceCents)}</td>
                <td>
                  <input
                    type="number"
                    min={0}
                    aria-label={`Quantity of ${line.name}`}
                    value={line.quantity}
                    onChange={(e) =>
                      setQuantity(line.productId, Math.max(0, e.target.valueAsNumber || 0))
                    }
                  />
                  {message && <span className="field-error">{message}</span>}
                </td>
                <td className="money">
                  {formatCents(line.unitPriceCents * BigInt(line.quantity))}
                </td>
              </tr>
            );
          })}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row" colSpan={3}>
              Total
            </th>
            <td className="money total">{formatCents(basketTotal(lines))}</td>
          </tr>
        </tfoot>
      </table>
      {problem && (
        <p role="alert" className="error">
          {problem.message}
        </p>
      )}
      {session ? (
        <button
          type="button"
          className="primary"
          disabled={createOrder.isPending}
          onClick={checkout}
        >
          {createOrder.isPending ? "Placing order…" : "Place order"}
        </button>
      ) : (
        <p>
          <button type="button" className="primary" onClick={onSignIn}>
            Sign in to order
          </button>
        </p>
      )}
    </section>
  );
}
