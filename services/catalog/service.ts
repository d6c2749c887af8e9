// The CatalogService handlers: validate, check who may do it, call the store, map errors.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import {
  CatalogService,
  type Product,
  ProductSchema,
  type Reservation,
  ReservationSchema,
  ReservationState,
  type ReservedProduct,
  ReservedProductSchema,
} from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { PreconditionFailureSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { Status } from "../../gen/google/rpc/status_pb.js";
import { requireAdmin, requireService } from "../../platform/auth/auth.js";
import { inRequestOrder } from "../../platform/collections.js";
import { isUuid } from "../../platform/data/ids.js";
import { capped, type Live } from "../../platform/events/watch.js";
import { toStatus } from "../../platform/http/batch-status.js";
import { validate } from "../../platform/http/validation.js";
import {
  batchCommitReservationsRequest,
  batchGetProductsRequest,
  batchReserveStockRequest,
  createProductRequest,
  getProductRequest,
  type ItemQuantity,
  listProductsRequest,
  orderIdRequest,
  reserveStockRequest,
  shortageText,
  updateProductRequest,
  watchStockRequest,
} from "./domain.js";
import { type ProductSearch, postgresSearch } from "./search/search.js";
import type {
  CatalogStore,
  ProductRecord,
  ReservationOutcome,
  ReservationRecord,
  ReservationRefusal,
  ReservedProduct as ReservedProductRecord,
  ReserveOutcome,
} from "./store.js";

export interface CatalogServiceDeps {
  store: CatalogStore;
  /** How queries are answered; PostgreSQL full-text search when not given. */
  search?: ProductSearch;
  reservationTtlSeconds: number;
  /** WatchStock's outbox tail, caps and heartbeat; the method is UNIMPLEMENTED without it. */
  live?: Live<number>;
}

export function catalogRoutes(deps: CatalogServiceDeps) {
  return (router: ConnectRouter) => router.service(CatalogService, catalogService(deps));
}

export function catalogService(deps: CatalogServiceDeps): ServiceImpl<typeof CatalogService> {
  const { products, reservations } = deps.store;
  const search = deps.search ?? postgresSearch(deps.store.search);
  const reserve = (orderId: string, items: ItemQuantity[]) =>
    reservations.reserve(orderId, items, deps.reservationTtlSeconds);
  return {
    async createProduct(req, ctx) {
      const input = validate(createProductRequest, req);
      requireAdmin(ctx);
      return { product: toProduct(await products.create(input)) };
    },

    async getProduct(req) {
      const { id } = validate(getProductRequest, req);
      const record = await products.findById(id);
      if (!record) throw productNotFound(id);
      return { product: toProduct(record) };
    },

    async batchGetProducts(req) {
      const { ids } = validate(batchGetProductsRequest, req);
      // A malformed id names no product, so like an unknown one it is simply absent.
      const wanted = ids.map((id) => id.toLowerCase()).filter(isUuid);
      const found = await products.findByIds([...new Set(wanted)]);
      return { products: inRequestOrder(wanted, found, (p) => p.id).map(toProduct) };
    },

    async listProducts(req) {
      const { skip, take, query } = validate(listProductsRequest, req);
      const records =
        query === "" ? await products.list(skip, take) : await search.search(query, skip, take);
      return { products: records.map(toProduct) };
    },

    async updateProduct(req, ctx) {
      const { id, ...changes } = validate(updateProductRequest, req);
      requireAdmin(ctx);
      const given = Object.fromEntries(
        Object.entries(changes).filter(([, value]) => value !== undefined),
      );
      const record =
        Object.keys(given).length === 0
          ? await products.findById(id)
          : await products.update(id, given);
      if (!record) throw productNotFound(id);
      return { product: toProduct(record) };
    },

    async reserveStock(req, ctx) {
      const { orderId, items } = validate(reserveStockRequest, req);
      // Only the order service reserves, commits and releases stock.
      requireService(ctx, "order");
      return reserved(orderId, await reserve(orderId, items));
    },

    async batchReserveStock(req, ctx) {
      const { requests } = validate(batchReserveStockRequest, req);
      requireService(ctx, "order");
      // One transaction for all, each reservation all or nothing on its own; a refusal is that
      // entry's answer, while a failure of the store (the database is down) fails the call, so
      // the interceptors map it as they would for ReserveStock.
      const outcomes = await reservations.reserveMany(requests, deps.reservationTtlSeconds);
      return {
        results: outcomes.map((outcome, i) =>
          entry(() => reserved(requests[i]?.orderId ?? "", outcome), "reserved"),
        ),
      };
    },

    async commitReservation(req, ctx) {
      const { orderId } = validate(orderIdRequest, req);
      requireService(ctx, "order");
      return answer(orderId, await reservations.commit(orderId));
    },

    async batchCommitReservations(req, ctx) {
      const { orderIds } = validate(batchCommitReservationsRequest, req);
      requireService(ctx, "order");
      // The store's commits of one turn share a statement already.
      const outcomes = await Promise.all(orderIds.map((orderId) => reservations.commit(orderId)));
      return {
        results: outcomes.map((outcome, i) =>
          entry(() => answer(orderIds[i] ?? "", outcome), "committed"),
        ),
      };
    },

    async *watchStock(req, ctx) {
      const { productIds, cursor } = validate(watchStockRequest, req);
      if (!deps.live) throw new ConnectError("WatchStock is not served here", Code.Unimplemented);
      for await (const update of capped(deps.live, productIds, cursor, ctx)) {
        yield update
          ? { update: { productId: update.thingId, stock: update.state, cursor: update.cursor } }
          : {};
      }
    },

    async releaseStock(req, ctx) {
      const { orderId } = validate(orderIdRequest, req);
      requireService(ctx, "order");
      return answer(orderId, await reservations.releaseStock(orderId));
    },

    async returnStock(req, ctx) {
      const { orderId } = validate(orderIdRequest, req);
      requireService(ctx, "order");
      return answer(orderId, await reservations.returnStock(orderId));
    },
  };
}

export function toProduct(record: ProductRecord): Product {
  return create(ProductSchema, {
    id: record.id,
    name: record.name,
    description: record.description,
    priceCents: BigInt(record.priceCents),
    stock: record.stock,
    createTime: timestampFromDate(record.createTime),
  });
}

function toReservedProduct(record: ReservedProductRecord): ReservedProduct {
  return create(ReservedProductSchema, {
    productId: record.productId,
    name: record.name,
    description: record.description,
    unitPriceCents: BigInt(record.unitPriceCents),
  });
}

const states = {
  pending: ReservationState.PENDING,
  committed: ReservationState.COMMITTED,
  released: ReservationState.RELEASED,
  returned: ReservationState.RETURNED,
} as const;

export function toReservation(record: ReservationRecord): Reservation {
  return create(ReservationSchema, {
    orderId: record.orderId,
    items: record.items,
    state: states[record.state],
    createTime: timestampFromDate(record.createTime),
    expireTime: timestampFromDate(record.expireTime),
  });
}

function productNotFound(id: string): ConnectError {
  return new ConnectError(`product ${id} not found`, Code.NotFound);
}

/** ReserveStock's answer: the reservation with its priced products, or the refusal. */
function reserved(orderId: string, outcome: ReserveOutcome) {
  return {
    ...answer(orderId, outcome),
    products: "products" in outcome ? outcome.products.map(toReservedProduct) : [],
  };
}

/**
 * One entry of a batch answer: what the single call would have answered (`single`), as the
 * `ok` case, or the refusal it would have thrown, as a google.rpc.Status.
 */
function entry<T, K extends string>(
  single: () => T,
  ok: K,
): { result: { case: K; value: T } | { case: "error"; value: Status } } {
  try {
    return { result: { case: ok, value: single() } };
  } catch (error) {
    // Only refusals are thrown by `answer`; anything else is a bug worth failing the call on.
    if (!(error instanceof ConnectError)) throw error;
    return { result: { case: "error", value: toStatus(error) } };
  }
}

/** A reservation RPC's answer: the reservation, or the store's refusal as a Connect error. */
function answer(
  orderId: string,
  outcome: ReservationOutcome | ReserveOutcome,
): { reservation: Reservation } {
  if ("refused" in outcome) throw refusalError(orderId, outcome.refused);
  return { reservation: toReservation(outcome.reservation) };
}

/** The store's refusals as the codes the order service and gateway act on. */
function refusalError(orderId: string, refusal: ReservationRefusal): ConnectError {
  switch (refusal.reason) {
    case "unknown-products": {
      const [first, ...rest] = refusal.productIds;
      return new ConnectError(
        rest.length === 0
          ? `product ${first} not found`
          : `products not found: ${refusal.productIds.join(", ")}`,
        Code.NotFound,
      );
    }
    case "insufficient-stock": {
      const violations = refusal.shortages.map((s) => ({
        type: "STOCK",
        subject: s.productId,
        description: shortageText(s.available, s.requested),
      }));
      const message = refusal.shortages
        .map((s) => `product ${s.productId}: ${shortageText(s.available, s.requested)}`)
        .join("; ");
      return new ConnectError(`not enough stock: ${message}`, Code.FailedPrecondition, undefined, [
        {
          desc: PreconditionFailureSchema,
          value: create(PreconditionFailureSchema, { violations }),
        },
      ]);
    }
    case "no-reservation":
      return new ConnectError(`no reservation for order ${orderId}`, Code.NotFound);
    case "wrong-state":
      return new ConnectError(
        refusal.state === "pending"
          ? `the reservation for order ${orderId} is still pending, not committed`
          : `the reservation for order ${orderId} is already ${refusal.state}`,
        Code.FailedPrecondition,
      );
  }
}
