// The shop's frame: a header to move between the four views, and the basket they share.
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { AccountForms } from "./Account.js";
import { BasketView } from "./Basket.js";
import { useBasket } from "./basket.js";
import { Orders } from "./Orders.js";
import { Products } from "./Products.js";
import { signOut, useSession } from "./session.js";

type View = "products" | "basket" | "account" | "orders";

export function App() {
  const [view, setView] = useState<View>("products");
  const basket = useBasket();
  const session = useSession();
  const queryClient = useQueryClient();
  const count = basket.basket.lines.reduce((n, l) => n + l.quantity, 0);
  const tab = (to: View, label: string) => (
    <button
      type="button"
      className={view === to ? "tab current" : "tab"}
      aria-current={view === to ? "page" : undefined}
      onClick={() => setView(to)}
    >
      {label}
    </button>
  );

  return (
    <>
      <header>
        <h1>Bazaar</h1>
        <nav>
          {tab("products", "Products")}
          {tab("basket", `Basket (${count})`)}
          {session ? tab("orders", "My orders") : tab("account", "Sign in")}
          {session && (
            <span className="who">
              {session.name}{" "}
              <button
                type="button"
                className="link"
                onClick={() => {
                  signOut();
                  // The next person at this browser sees nothing of the last one's orders.
                  queryClient.clear();
                  setView("products");
                }}
              >
                Sign out
              </button>
            </span>
          )}
        </nav>
      </header>
      <main>
        {view === "products" && <Products onAdd={basket.add} />}
        {view === "basket" && (
          <BasketView
            basket={basket}
            onSignIn={() => setView("account")}
            onOrdered={() => setView("orders")}
          />
        )}
        {view === "account" && (
          <AccountForms onSignedIn={() => setView(count > 0 ? "basket" : "products")} />
        )}
        {view === "orders" && <Orders />}
      </main>
    </>
  );
}
