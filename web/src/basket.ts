// The basket, held in the page. It also owns the checkout's idempotency key: one key per
// basket content, made when the content changes. Clicking "Place order" twice, or again after
// "service unavailable", sends the same key, so the order service places one order; changing
// the basket (e.g. after "out of stock") makes a new key, since it is a new order.
import { useReducer } from "react";
import type { Product } from "../../gen/bazaar/catalog/v1/catalog_pb.js";

export interface BasketLine {
  productId: string;
  name: string;
  unitPriceCents: bigint;
  quantity: number;
}

export interface Basket {
  lines: BasketLine[];
  checkoutKey: string;
}

type Action =
  | { type: "add"; product: Product }
  | { type: "set"; productId: string; quantity: number }
  | { type: "clear" };

function reduce(basket: Basket, action: Action): Basket {
  switch (action.type) {
    case "add": {
      const { product } = action;
      const existing = basket.lines.find((l) => l.productId === product.id);
      const lines = existing
        ? basket.lines.map((l) => (l === existing ? { ...l, quantity: l.quantity + 1 } : l))
        : [
            ...basket.lines,
            {
              productId: product.id,
              name: product.name,
              unitPriceCents: product.priceCents,
              quantity: 1,
            },
          ];
      return { lines, checkoutKey: crypto.randomUUID() };
    }
    case "set": {
      const lines = basket.lines
        .map((l) => (l.productId === action.productId ? { ...l, quantity: action.quantity } : l))
        .filter((l) => l.quantity > 0);
      return { lines, checkoutKey: crypto.randomUUID() };
    }
    case "clear":
      return emptyBasket();
  }
}

function emptyBasket(): Basket {
  return { lines: [], checkoutKey: crypto.randomUUID() };
}

export function useBasket() {
  const [basket, dispatch] = useReducer(reduce, undefined, emptyBasket);
  return {
    basket,
    add: (product: Product) => dispatch({ type: "add", product }),
    setQuantity: (productId: string, quantity: number) =>
      dispatch({ type: "set", productId, quantity }),
    clear: () => dispatch({ type: "clear" }),
  };
}

export type BasketApi = ReturnType<typeof useBasket>;

/** What the basket costs at the prices shown; the order service computes the real total. */
export function basketTotal(lines: readonly BasketLine[]): bigint {
  return lines.reduce((sum, l) => sum + l.unitPriceCents * BigInt(l.quantity), 0n);
}
