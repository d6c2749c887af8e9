// The limits the contract sets on an order's lines (api.md, CreateOrder: 1–100 items,
// quantity 1 … 1,000 each). The order service checks them on CreateOrder; the catalog checks
// the same on ReserveStock, whose items are an order's lines. One owner, so they cannot drift.
// (order_items' check constraint repeats the quantity bound in SQL, where this cannot reach.)
// Also how many of the order service's batched calls and statements run at once.

/** Lines in one order or one reservation. */
export const maxItems = 100;

/** Units of one product in one line. */
export const maxQuantity = 1_000;

/**
 * Reservations in one BatchReserveStock call, and order ids in one BatchCommitReservations
 * call: the catalog refuses more, and the order service never sends more.
 */
export const maxBatchReservations = 100;
export const maxBatchCommits = 500;

/**
 * BatchReserveStock and BatchCommitReservations calls under way at once; the orders that
 * arrive meanwhile wait and leave together in the next one (platform/data/batcher.ts). The
 * reservations of one batch lock the same hot stock rows as the next, so they queue in the
 * catalog anyway: fewer, larger calls do the same work for less CPU on both sides. More than
 * one, so that one slow call does not hold every order back.
 */
export const peerCallsInFlight = 4;

/** The same for the order service's own group commits (begin, confirm, settled). */
export const statementsInFlight = 2;
