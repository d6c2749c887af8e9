// Start-up: ask the storefront server where the services are, then render the shop with one
// transport and one query cache.
import { TransportProvider } from "@connectrpc/connect-query";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App.js";
import type { PageConfig } from "./page-config.js";
import { createTransport } from "./transport.js";
import "./styles.css";

const config = (await (await fetch("/config.json")).json()) as PageConfig;
const queryClient = new QueryClient({
  // A failed call is shown at once; retrying is the shopper's choice ("try again").
  defaultOptions: { queries: { retry: false, staleTime: 10_000 }, mutations: { retry: false } },
});

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root");
createRoot(root).render(
  <StrictMode>
    <TransportProvider transport={createTransport(config)}>
      <QueryClientProvider client={queryClient}>
        <App />
      </QueryClientProvider>
    </TransportProvider>
  </StrictMode>,
);
