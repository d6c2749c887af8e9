// The address a request came from, for per-client limits: the peer's address, or the one a
// trusted proxy (TRUSTED_PROXIES) says it forwarded for. X-Forwarded-For from anyone else is
// ignored, since a client can write whatever it likes there.
import { BlockList, isIP } from "node:net";
import { createContextKey, createContextValues, type HandlerContext } from "@connectrpc/connect";

export const kClientAddress = createContextKey<string>("unknown", {
  description: "client address",
});

export function clientAddressOf(ctx: HandlerContext): string {
  return ctx.values.get(kClientAddress);
}

/** The proxies to believe, from a comma-separated list of addresses and CIDR ranges. */
export function trustedProxies(list: string | undefined): BlockList {
  const blocks = new BlockList();
  for (const item of (list ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [address = "", bits] = item.split("/");
    const family = isIP(address) === 6 ? "ipv6" : "ipv4";
    if (bits === undefined) blocks.addAddress(address, family);
    else blocks.addSubnet(address, Number(bits), family);
  }
  return blocks;
}

function trusted(proxies: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return proxies.check(address, family === 6 ? "ipv6" : "ipv4");
}

/**
 * The client's address: walking X-Forwarded-For from the right (the nearest hop first) while
 * the hop that told us is a trusted proxy.
 */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | string[] | undefined,
  proxies: BlockList,
): string {
  let address = (peer ?? "unknown").replace(/^::ffff:/, "");
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : (forwardedFor ?? ""))
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  // Hops first: without any, no address needs checking against the list.
  while (hops.length > 0 && trusted(proxies, address)) {
    address = (hops.pop() ?? address).replace(/^::ffff:/, "");
  }
  return address;
}

/** Connect's `contextValues` hook: puts the client's address into every call's values. */
export function clientContextValues(proxies: BlockList) {
  return (req: {
    socket?: { remoteAddress?: string | undefined } | undefined;
    headers: Record<string, string | string[] | undefined>;
  }) => {
    const values = createContextValues();
    values.set(
      kClientAddress,
      clientAddress(req.socket?.remoteAddress, req.headers["x-forwarded-for"], proxies),
    );
    return values;
  };
}
