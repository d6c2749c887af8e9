// Test support: a TCP proxy between two processes that a test can cut (a network partition:
// open connections die, new ones hang unanswered) and heal.
import net from "node:net";

export interface TcpProxy {
  /** http://127.0.0.1:<port>, to hand to the client side as the peer's URL. */
  url: string;
  /** Where connections go; may be set after the proxy started (the peer starts later). */
  target: { host: string; port: number } | undefined;
  cut(): void;
  /**
   * Cuts the moment a client sends bytes containing `marker` (an RPC's path, say), before
   * forwarding them, then calls `then`: a partition that starts at an exact step.
   */
  cutAt(marker: string, then?: () => void): void;
  /**
   * Calls `then` when the `nth` request containing `marker` passes (it is still forwarded): a
   * fault injected at an exact point of a burst, however fast the burst runs.
   */
  onNth(marker: string, nth: number, then: () => void): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(): Promise<TcpProxy> {
  const open = new Set<net.Socket>();
  let partitioned = false;
  let trigger: { marker: Buffer; then: () => void } | undefined;
  let counter: { marker: Buffer; left: number; then: () => void } | undefined;
  const track = (socket: net.Socket) => {
    open.add(socket);
    socket.on("close", () => open.delete(socket));
    socket.on("error", () => socket.destroy());
  };
  const server = net.createServer((client) => {
    track(client);
    // Partitioned: the connection is accepted and then nothing ever comes back, as when
    // packets are dropped; the caller's deadline decides.
    if (partitioned || !proxy.target) return;
    const upstream = net.connect(proxy.target.port, proxy.target.host);
    track(upstream);
    upstream.on("close", () => client.destroy());
    client.on("close", () => upstream.destroy());
    client.on("data", (chunk: Buffer) => {
      if (partitioned) return;
      if (trigger && chunk.includes(trigger.marker)) {
        const { then } = trigger;
        trigger = undefined;
        proxy.cut();
        then();
        return;
      }
      if (counter && chunk.includes(counter.marker) && --counter.left === 0) {
        const { then } = counter;
        counter = undefined;
        then();
      }
      upstream.write(chunk);
    });
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  const destroyAll = () => {
    for (const socket of open) socket.destroy();
  };
  const proxy: TcpProxy = {
    url: `http://127.0.0.1:${port}`,
    target: undefined,
    cut: () => {
      partitioned = true;
      destroyAll();
    },
    cutAt: (marker, then = () => {}) => {
      trigger = { marker: Buffer.from(marker), then };
    },
    onNth: (marker, nth, then) => {
      counter = { marker: Buffer.from(marker), left: nth, then };
    },
    heal: () => {
      partitioned = false;
      // Connections accepted while cut were never forwarded: end them so clients reconnect.
      destroyAll();
    },
    close: async () => {
      destroyAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}

/** The host and port of an http://host:port URL, as a proxy target. */
export function targetOf(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port) };
}
