// The stock feed's upstream: WatchStock streams (one per 100 ids) for the union of what the
// feed's subscribers watch, each resumed from its last cursor after any failure (a catalog
// restart costs subscribers neither a gap nor an error), and the feed's safe cursor: the oldest
// stream's, once every stream has one, so every change up to it has been recorded.
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { CatalogService, StockUpdate } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { comparePositions, decodeCursor, type Position } from "../../platform/events/tail.js";
import type { Logger } from "../../platform/observability/logger.js";

const maxIdsPerStream = 100;
const retryMinMs = 100;
const retryMaxMs = 5_000;

/** One upstream stream's progress: every change at or before `cursor` has been offered. */
interface Chunk {
  cursor: string | undefined;
  position: Position | undefined;
}

export class StockUpstream {
  #upstream: { ids: string[]; abort: AbortController; chunks: Chunk[] } | undefined;
  /** The oldest chunk cursor, once every chunk has one: all recorded up to there. */
  #safe: string | undefined;
  /** Upstream streams opened so far. */
  opened = 0;

  constructor(
    private readonly catalog: Client<typeof CatalogService>,
    private readonly logger: Logger,
    private readonly record: (update: StockUpdate, position: Position | undefined) => void,
  ) {}

  get ids(): readonly string[] {
    return this.#upstream?.ids ?? [];
  }

  get safe(): string | undefined {
    return this.#safe;
  }

  /** Watches exactly `ids` (sorted), from a fresh snapshot; false when it watched them already. */
  watch(ids: string[]): boolean {
    const current = this.ids;
    if (ids.length === current.length && ids.every((id, i) => id === current[i])) return false;
    this.close();
    if (ids.length === 0) return true;
    const abort = new AbortController();
    const chunks: Chunk[] = [];
    this.#upstream = { ids, abort, chunks };
    this.#safe = undefined;
    for (let i = 0; i < ids.length; i += maxIdsPerStream) {
      const chunk: Chunk = { cursor: undefined, position: undefined };
      chunks.push(chunk);
      void this.#run(ids.slice(i, i + maxIdsPerStream), chunk, abort.signal);
    }
    return true;
  }

  close(): void {
    this.#upstream?.abort.abort();
    this.#upstream = undefined;
  }

  /** One upstream stream for `ids`, resumed from its last cursor after any failure. */
  async #run(ids: string[], chunk: Chunk, signal: AbortSignal): Promise<void> {
    let delayMs = retryMinMs;
    while (!signal.aborted) {
      try {
        this.opened++;
        // A new set of ids starts from a snapshot (the new ids need their current stock).
        const cursor = chunk.cursor ?? "";
        // A snapshot's states but its last have no cursor; they are held until the last one
        // says where the snapshot stands (they come together), so every state has a position.
        const held: StockUpdate[] = [];
        for await (const res of this.catalog.watchStock({ productIds: ids, cursor }, { signal })) {
          const update = res.update;
          delayMs = retryMinMs;
          if (!update) continue; // a heartbeat
          if (update.cursor === "") {
            held.push(update);
            continue;
          }
          const position = decodeCursor(update.cursor);
          if (position) this.#advance(chunk, update.cursor, position);
          for (const each of [...held.splice(0), update]) this.record(each, position);
        }
      } catch (error) {
        if (signal.aborted) return;
        const code = ConnectError.from(error).code;
        // An unknown product ends the stream for good; anything else (a restart) is retried.
        if (code === Code.NotFound || code === Code.InvalidArgument) {
          this.logger.warn({ err: error }, "stock feed refused; dropping unknown products");
          return;
        }
        this.logger.debug({ err: error }, "stock feed interrupted; resuming from its cursor");
      }
      if (signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
      delayMs = Math.min(retryMaxMs, delayMs * 2);
    }
  }

  /** The chunk has offered everything up to `cursor`: the feed's safe cursor may move on. */
  #advance(chunk: Chunk, cursor: string, position: Position): void {
    chunk.cursor = cursor;
    chunk.position = position;
    const chunks = this.#upstream?.chunks ?? [];
    let oldest: Chunk | undefined;
    for (const each of chunks) {
      if (!each.position) {
        this.#safe = undefined;
        return;
      }
      if (!oldest?.position || comparePositions(each.position, oldest.position) < 0) oldest = each;
    }
    this.#safe = oldest?.cursor;
  }
}
