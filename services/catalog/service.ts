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
} from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { PreconditionFailureSchema } from "../../gen/google/rpc/error_details_pb.js";
import { requireAdmin, requireService } from "../../platform/auth.js";
import { isUuid } from "../../platform/ids.js";
import { validate } from "../../platform/validation.js";
import * as rules from "./domain.js";
import { type ProductSearch, postgresSearch } from "./search/search.js";
import {
  type CatalogStore,
  InsufficientStockError,
  type ProductRecord,
  ProductsNotFoundError,
  ReservationNotFoundError,
  type ReservationRecord,
  ReservationStateError,
} from "./store.js";

export interface CatalogServiceDeps {
  store: CatalogStore;
  /** How queries are answered; PostgreSQL full-text search when not given. */
  search?: ProductSearch;
  reservationTtlSeconds: number;
}

export function catalogRoutes(deps: CatalogServiceDeps) {
  return (router: ConnectRouter) => router.service(CatalogService, catalogService(deps));
}

export function catalogService(deps: CatalogServiceDeps): ServiceImpl<typeof CatalogService> {
  const { store } = deps;
  const search = deps.search ?? postgresSearch(store);
  return {
    async createProduct(req, ctx) {
      const input = validate(rules.createProductRequest, req);
      requireAdmin(ctx);
      return { product: toProduct(await store.createProduct(input)) };
    },

    async getProduct(req) {
      const { id } = validate(rules.getProductRequest, req);
      const record = await store.findById(id);
      if (!record) throw productNotFound(id);
      return { product: toProduct(record) };
    },

    async batchGetProducts(req) {
      const { ids } = validate(rules.batchGetProductsRequest, req);
      // A malformed id names no product, so like an unknown one it is simply absent.
      const wanted = ids.map((id) => id.toLowerCase()).filter(isUuid);
      const byId = new Map((await store.findByIds([...new Set(wanted)])).map((p) => [p.id, p]));
      return {
        products: wanted.flatMap((id) => {
          const record = byId.get(id);
          return record ? [toProduct(record)] : [];
        }),
      };
    },

    async listProducts(req) {
      const { skip, take, query } = validate(rules.listProductsRequest, req);
      const records =
        query === "" ? await store.list(skip, take) : await search.search(query, skip, take);
      return { products: records.map(toProduct) };
    },

    async updateProduct(req, ctx) {
      const { id, ...changes } = validate(rules.updateProductRequest, req);
      requireAdmin(ctx);
      const given = Object.fromEntries(
        Object.entries(changes).filter(([, value]) => value !== undefined),
      );
      const record =
        Object.keys(given).length === 0
          ? await store.findById(id)
          : await store.updateProduct(id, given);
      if (!record) throw productNotFound(id);
      return { product: toProduct(record) };
    },

    async reserveStock(req, ctx) {
      const { orderId, items } = validate(rules.reserveStockRequest, req);
      // Only the order service reserves, commits and releases stock.
      requireService(ctx, "order");
      try {
        const record = await store.reserve(orderId, items, deps.reservationTtlSeconds);
        return { reservation: toReservation(record) };
      } catch (error) {
        throw reservationError(error);
      }
    },

    async commitReservation(req, ctx) {
      const { orderId } = validate(rules.orderIdRequest, req);
      requireService(ctx, "order");
      try {
        return { reservation: toReservation(await store.commitReservation(orderId)) };
      } catch (error) {
        throw reservationError(error);
      }
    },

    async releaseStock(req, ctx) {
      const { orderId } = validate(rules.orderIdRequest, req);
      requireService(ctx, "order");
      try {
        return { reservation: toReservation(await store.releaseReservation(orderId)) };
      } catch (error) {
        throw reservationError(error);
      }
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

const states = {
  pending: ReservationState.PENDING,
  committed: ReservationState.COMMITTED,
  released: ReservationState.RELEASED,
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

/** The store's reservation outcomes as the codes the order service and gateway act on. */
function reservationError(error: unknown): unknown {
  if (error instanceof ProductsNotFoundError) {
    const [first, ...rest] = error.productIds;
    return new ConnectError(
      rest.length === 0
        ? `product ${first} not found`
        : `products not found: ${error.productIds.join(", ")}`,
      Code.NotFound,
    );
  }
  if (error instanceof InsufficientStockError) {
    const violations = error.shortages.map((s) => ({
      type: "STOCK",
      subject: s.productId,
      description: rules.shortageText(s.available, s.requested),
    }));
    const message = error.shortages
      .map((s) => `product ${s.productId}: ${rules.shortageText(s.available, s.requested)}`)
      .join("; ");
    return new ConnectError(`not enough stock: ${message}`, Code.FailedPrecondition, undefined, [
      { desc: PreconditionFailureSchema, value: create(PreconditionFailureSchema, { violations }) },
    ]);
  }
  if (error instanceof ReservationNotFoundError) {
    return new ConnectError(`no reservation for order ${error.orderId}`, Code.NotFound);
  }
  if (error instanceof ReservationStateError) {
    return new ConnectError(
      `the reservation for order ${error.orderId} is already ${error.state}`,
      Code.FailedPrecondition,
    );
  }
  return error;
}
