// stockChanged events executed, serialised and written once per product state, not once per
// subscriber. The stock feed hands each subscriber a batch per tick (gateway/live/stock-feed.ts);
// here each state of a batch is executed once per distinct subscription (document, operation
// and variables) and the result shared by every subscriber of that subscription. On Yoga's SSE
// (gateway/plugins/sse-resume.ts writes those responses) a whole batch becomes one chunk of SSE
// frames, rendered once per distinct batch and written as the same bytes to every subscriber
// who gets that batch: per subscriber and tick, one map lookup and one write.
//
// Elsewhere (graphql-sse's protocol, or a result with errors, which goes through Yoga's error
// masking like any other) a batch becomes one result per state, still executed once.
//
// `product` resolves through the DataLoaders of a context made for events (no subscriber's token:
// the result is shared, and products are public), renewed whenever a newer state comes, so a
// product is never older than the state it comes with and loads once per state, not per
// subscriber.
import {
  createSourceEventStream,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  execute,
  print,
} from "graphql";
import { isAsyncIterable, type Plugin } from "graphql-yoga";
import { sseBytes, sseFrame, sseFramed } from "../plugins/sse-resume.js";
import { type Offered, type StockBatch, stockBatches } from "./stock-feed.js";

/** One state's result for one subscription, shared by all its subscribers. */
interface Shared {
  promise: Promise<ExecutionResult>;
  result?: ExecutionResult;
  /** The result as JSON, without a cursor. */
  json?: string;
}

interface Prepared {
  /** One per state; the last carries the cursor. */
  results: ExecutionResult[];
  /** The whole batch as SSE frames (undefined when a result has errors: masked elsewhere). */
  frames: ExecutionResult[] | undefined;
}

// Rendered batches kept per subscription, and subscriptions kept: a few ticks' worth.
const maxBatchesPerKey = 64;
const maxKeys = 1_024;

export class StockFrames {
  /** Executions of stock events so far: once per state and subscription (tests read it). */
  executions = 0;
  /** Batches rendered into SSE bytes so far: once per distinct batch. */
  rendered = 0;
  readonly #executed = new WeakMap<Offered, Map<string, Shared>>();
  /** Per batch object (the feed hands one to every subscriber of the same ids that keeps up)
   * and subscription: its results, and its frames when it has no errors. */
  readonly #prepared = new WeakMap<StockBatch, Map<string, Promise<Prepared>>>();
  readonly #batches = new Map<string, Map<string, Uint8Array>>();
  readonly #texts = new WeakMap<DocumentNode, string>();
  #context: { serial: number; value: object } | undefined;

  /** `eventContext`: a fresh anonymous context for executing events. */
  constructor(private readonly eventContext: () => object) {}

  /** Replaces graphql-js's subscribe: stock batches as above, other events as graphql-js would. */
  plugin(): Plugin {
    return {
      onSubscribe: ({ setSubscribeFn }) => {
        setSubscribeFn((args) => this.#subscribe(args as ExecutionArgs));
      },
    };
  }

  async #subscribe(args: ExecutionArgs) {
    const source = await createSourceEventStream(args);
    if (!isAsyncIterable(source)) return source;
    if (!(stockBatches in source)) {
      // graphql-js's own: each event executed with it as the root value.
      return mapEvents(source[Symbol.asyncIterator](), async (payload) => [
        await execute({ ...args, rootValue: payload }),
      ]);
    }
    const key = this.#keyOf(args);
    const request = (args.contextValue as { request?: Request }).request;
    const batches = source[Symbol.asyncIterator]() as AsyncIterator<StockBatch>;
    return mapEvents(batches, (batch) => this.#results(batch, args, key, request));
  }

  async #results(
    batch: StockBatch,
    args: ExecutionArgs,
    key: string,
    request: Request | undefined,
  ): Promise<ExecutionResult[]> {
    let byKey = this.#prepared.get(batch);
    if (!byKey) {
      byKey = new Map();
      this.#prepared.set(batch, byKey);
    }
    let prepared = byKey.get(key);
    if (!prepared) {
      prepared = this.#prepare(batch, args, key);
      byKey.set(key, prepared);
    }
    const { results, frames } = await prepared;
    return frames && request && sseFramed.has(request) ? frames : results;
  }

  async #prepare(batch: StockBatch, args: ExecutionArgs, key: string): Promise<Prepared> {
    const shared = batch.updates.map((offered) => this.#execute(offered, args, key));
    for (const each of shared) if (!each.result) await each.promise;
    const results = shared.map((each) => each.result as ExecutionResult);
    const cursor = batch.resumeCursor;
    const frames = results.every((result) => !result.errors?.length)
      ? [{ [sseBytes]: this.#render(batch, shared, key, cursor) } as ExecutionResult]
      : undefined;
    // The cursor goes with the last: once the client has it, it has the whole batch.
    const last = results.length - 1;
    if (cursor !== undefined) results[last] = withCursor(results[last] as ExecutionResult, cursor);
    return { results, frames };
  }

  #execute(offered: Offered, args: ExecutionArgs, key: string): Shared {
    let byKey = this.#executed.get(offered);
    if (!byKey) {
      byKey = new Map();
      this.#executed.set(offered, byKey);
    }
    const known = byKey.get(key);
    if (known) return known;
    this.executions++;
    const contextValue = this.#contextFor(offered.serial);
    const shared: Shared = {
      promise: Promise.resolve(execute({ ...args, rootValue: offered, contextValue })).then(
        (result) => {
          shared.result = result;
          return result;
        },
      ),
    };
    byKey.set(key, shared);
    return shared;
  }

  /** A context that loads nothing from before the state `serial` came. */
  #contextFor(serial: number): object {
    if (!this.#context || this.#context.serial < serial) {
      this.#context = { serial, value: this.eventContext() };
    }
    return this.#context.value;
  }

  /** A batch's frames, rendered once per subscription, states and cursor. */
  #render(batch: StockBatch, shared: Shared[], key: string, cursor?: string): Uint8Array {
    let signature = cursor ?? "";
    for (const offered of batch.updates) signature += `,${offered.serial}`;
    let byKey = this.#batches.get(key);
    if (!byKey) {
      if (this.#batches.size >= maxKeys) this.#batches.clear();
      byKey = new Map();
      this.#batches.set(key, byKey);
    }
    const known = byKey.get(signature);
    if (known) return known;
    this.rendered++;
    let text = "";
    const last = shared.length - 1;
    shared.forEach((each, i) => {
      const result = each.result as ExecutionResult;
      if (i === last && cursor !== undefined) {
        text += sseFrame(JSON.stringify(withCursor(result, cursor)), cursor);
      } else {
        each.json ??= JSON.stringify(result);
        text += sseFrame(each.json, undefined);
      }
    });
    const bytes = Buffer.from(text);
    if (byKey.size >= maxBatchesPerKey) byKey.clear();
    byKey.set(signature, bytes);
    return bytes;
  }

  /** What makes two subscriptions' results the same: the document, operation and variables. */
  #keyOf(args: ExecutionArgs): string {
    let text = this.#texts.get(args.document);
    if (text === undefined) {
      text = args.document.loc?.source.body ?? print(args.document);
      this.#texts.set(args.document, text);
    }
    return `${args.operationName ?? ""}\u0000${JSON.stringify(args.variableValues ?? {})}\u0000${text}`;
  }
}

function withCursor(result: ExecutionResult, cursor: string): ExecutionResult {
  return { ...result, extensions: { ...result.extensions, cursor } };
}

/**
 * `source`'s events, each mapped to any number of results. Returning it returns `source` at
 * once, even while it waits for an event (the client went away).
 */
function mapEvents<T, U>(
  source: AsyncIterator<T>,
  map: (event: T) => Promise<readonly U[]>,
): AsyncIterableIterator<U> {
  // Shared with other subscribers: read, never changed.
  let queue: readonly U[] = [];
  let at = 0;
  const done = { done: true, value: undefined } as IteratorReturnResult<undefined>;
  return {
    async next(): Promise<IteratorResult<U>> {
      while (at >= queue.length) {
        const next = await source.next();
        if (next.done) return done;
        queue = await map(next.value);
        at = 0;
      }
      return { done: false, value: queue[at++] as U };
    },
    async return() {
      queue = [];
      await source.return?.();
      return done;
    },
    async throw(error: unknown) {
      queue = [];
      await source.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
