// The order service's data access, one store per thing it owns, all SQL under store/: the
// saga's attempts (store/attempts.ts), the reads of placed orders (store/orders.ts) and their
// life after checkout (store/fulfilment.ts). They speak in plain records, never protobuf.
import { type AttemptOwner, AttemptStore } from "./store/attempts.js";
import type { OrderDb } from "./store/db.js";
import { FulfilmentStore } from "./store/fulfilment.js";
import { OrderReads } from "./store/orders.js";

export type {
  BeginResult,
  Fulfilment,
  OrderAttempt,
  OrderRecord,
  OrderStatus,
} from "./records.js";
export type { AttemptOwner, AttemptStore } from "./store/attempts.js";
export type { OrderDb } from "./store/db.js";
export type { FulfilmentStore, PendingReturn, Transition } from "./store/fulfilment.js";
export { type OrderReads, readOrders } from "./store/orders.js";

export class OrderStore {
  readonly attempts: AttemptStore;
  readonly orders: OrderReads;
  readonly fulfilment: FulfilmentStore;

  constructor(
    readonly db: OrderDb,
    options: { owner?: AttemptOwner } = {},
  ) {
    this.attempts = new AttemptStore(db, options);
    this.orders = new OrderReads(db);
    this.fulfilment = new FulfilmentStore(db);
  }
}
