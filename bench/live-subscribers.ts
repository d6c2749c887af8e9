// bench:live's subscribers: N SSE connections to the gateway's `stockChanged`, recording which
// stock state of which product each read and when; and the gateway's heap and RSS beside them.
import { readFileSync } from "node:fs";
import http from "node:http";

/**
 * From the gateway's /metrics: its V8 heap in use (garbage not yet collected included) and
 * how many stock subscribers it holds.
 */
export async function gatewayGauges(
  gatewayUrl: string,
): Promise<{ heapMb: number; stockSubscribers: string }> {
  const text = await (await fetch(`${gatewayUrl}/metrics`)).text();
  const gauge = (name: string) => new RegExp(`^${name}(?:{[^}]*})? (\\S+)$`, "m").exec(text)?.[1];
  return {
    heapMb: Number(gauge("nodejs_heap_size_used_bytes") ?? Number.NaN) / 2 ** 20,
    stockSubscribers: gauge("gateway_stock_subscribers") ?? "?",
  };
}

export function rssMb(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024;
}

/** What the subscribers read: product index, stock and when, for the deliveries of one run. */
export class Deliveries {
  product: number[] = [];
  stock: number[] = [];
  atMs: number[] = [];
  recording = false;
  add(product: number, stock: number, atMs: number): void {
    if (!this.recording) return;
    this.product.push(product);
    this.stock.push(stock);
    this.atMs.push(atMs);
  }
  clear(): void {
    this.product = [];
    this.stock = [];
    this.atMs = [];
  }
  /** Each delivery's latency from when its state occurred (`at`: "product:stock" → ms), sorted. */
  latencies(at: ReadonlyMap<string, number>): number[] {
    const latencies: number[] = [];
    for (let i = 0; i < this.atMs.length; i++) {
      const occurred = at.get(`${this.product[i]}:${this.stock[i]}`);
      if (occurred !== undefined) latencies.push((this.atMs[i] as number) - occurred);
    }
    return latencies.sort((a, b) => a - b);
  }
}

/**
 * N SSE subscribers, each on its own connection, each to every product; resolves once each has
 * its first state of every product. Parses only what it measures (no JSON.parse per event).
 */
export async function openSubscribers(
  gatewayUrl: string,
  productIds: string[],
  n: number,
  deliveries: Deliveries,
): Promise<{ close(): void; failed: number }> {
  const index = new Map(productIds.map((id, i) => [id, i]));
  const body = JSON.stringify({
    query: `subscription ($ids: [ID!]!) { stockChanged(productIds: $ids) { productId stock } }`,
    variables: { ids: productIds },
  });
  const url = new URL("/graphql", gatewayUrl);
  const requests: http.ClientRequest[] = [];
  let failed = 0;
  const open = () =>
    new Promise<void>((resolve) => {
      const seen = new Set<number>();
      let settled = false;
      const settle = () => {
        if (!settled) {
          settled = true;
          resolve();
        }
      };
      const request = http.request(
        url,
        {
          method: "POST",
          agent: false,
          headers: { "content-type": "application/json", accept: "text/event-stream" },
        },
        (response) => {
          if (response.statusCode !== 200) {
            failed++;
            response.resume();
            settle();
            return;
          }
          response.setEncoding("utf8");
          let buffer = "";
          response.on("data", (chunk: string) => {
            const at = Date.now();
            buffer += chunk;
            const cut = buffer.lastIndexOf("\n\n");
            if (cut === -1) return;
            const complete = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            for (const match of complete.matchAll(/"productId":"([^"]+)","stock":(\d+)/g)) {
              const product = index.get(match[1] as string) ?? -1;
              deliveries.add(product, Number(match[2]), at);
              seen.add(product);
            }
            if (seen.size === productIds.length) settle();
          });
          response.on("error", () => {});
        },
      );
      request.on("error", () => {
        failed++;
        settle();
      });
      request.end(body);
      requests.push(request);
    });
  // A few hundred connections at a time: a burst of 10,000 SYNs overflows the listen backlog.
  for (let i = 0; i < n; i += 250) {
    await Promise.all(Array.from({ length: Math.min(250, n - i) }, open));
  }
  return {
    failed,
    close: () => {
      for (const request of requests) request.destroy();
    },
  };
}
