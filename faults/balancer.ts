// Test support: a round-robin TCP balancer in front of a service's replicas, as a Kubernetes
// Service or a cloud load balancer would be. It polls each replica's /readyz and gives new
// connections only to ready ones (a replica that is shutting down says unready at once, so it
// leaves the rotation while it still serves); a connection refused before any byte went through
// is tried on the next replica. Open connections are never moved.
import net from "node:net";

export interface Balancer {
  /** http://127.0.0.1:<port>, to hand to clients as the service's URL. */
  url: string;
  /** The replicas' ports, in rotation order; may change while it runs. */
  targets: number[];
  /** Connections handed to each port so far. */
  handed: Map<number, number>;
  close(): Promise<void>;
}

export async function startBalancer(
  targets: number[],
  options: { pollMs?: number } = {},
): Promise<Balancer> {
  const ready = new Map<number, boolean>();
  const open = new Set<net.Socket>();
  const handed = new Map<number, number>();
  let next = 0;
  const track = (socket: net.Socket) => {
    open.add(socket);
    socket.on("close", () => open.delete(socket));
    socket.on("error", () => socket.destroy());
  };
  // Ready ones in rotation; with none known ready (all starting, or all down), every target,
  // so that a connection is at least tried.
  const pick = (tried: Set<number>): number | undefined => {
    const all = balancer.targets.filter((port) => !tried.has(port));
    const candidates = all.filter((port) => ready.get(port) === true);
    const pool = candidates.length > 0 ? candidates : all;
    if (pool.length === 0) return undefined;
    return pool[next++ % pool.length];
  };

  const server = net.createServer((client) => {
    track(client);
    client.pause();
    const tried = new Set<number>();
    const connect = () => {
      const port = pick(tried);
      if (port === undefined) {
        client.destroy();
        return;
      }
      tried.add(port);
      const upstream = net.connect(port, "127.0.0.1");
      const refused = () => {
        // Nothing was forwarded yet: the client never knows this replica was down.
        ready.set(port, false);
        upstream.destroy();
        connect();
      };
      upstream.once("error", refused);
      upstream.once("connect", () => {
        upstream.off("error", refused);
        if (client.destroyed) {
          upstream.destroy();
          return;
        }
        handed.set(port, (handed.get(port) ?? 0) + 1);
        track(upstream);
        upstream.on("close", () => client.destroy());
        client.on("close", () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    connect();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;

  let stopped = false;
  const poll = async () => {
    while (!stopped) {
      await Promise.all(
        balancer.targets.map(async (target) => {
          const answer = await fetch(`http://127.0.0.1:${target}/readyz`, {
            signal: AbortSignal.timeout(1_000),
          }).then(
            async (res) => {
              await res.body?.cancel();
              return res.ok;
            },
            () => false,
          );
          ready.set(target, answer);
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 100));
    }
  };
  let polling: Promise<void> = Promise.resolve();
  const balancer: Balancer = {
    url: `http://127.0.0.1:${port}`,
    targets: [...targets],
    handed,
    close: async () => {
      stopped = true;
      await polling;
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  polling = poll();
  return balancer;
}
