// The sweeper's reads of the reservations: claiming the expired ones for a pass, and how much
// stock is held by reservations whose order's outcome was not known when they expired.
import { and, asc, eq, inArray, lte, sql } from "drizzle-orm";
import { reservationItems, reservations } from "../schema.js";
import type { CatalogDb } from "./db.js";

/** How long a claimed reservation waits before the sweeper looks at it again. */
export interface ExpiryWait {
  ttlSeconds: number;
  minWaitSeconds: number;
  maxWaitSeconds: number;
}

/**
 * Claims up to `limit` pending reservations expired at `now`, oldest first, for one sweeper
 * pass: each one's expiry moves to when it should be looked at again, so a claimed reservation
 * whose outcome stays unknown waits that long (a backoff), and a sweeper that dies mid-pass
 * only delays it. SKIP LOCKED lets replicas sweeping at once take disjoint batches.
 * The wait is the time the reservation has been in doubt (past `createTime + ttlSeconds`),
 * within [minWaitSeconds, maxWaitSeconds], times a jitter in [0.5, 1): exponential backoff.
 */
export async function claimExpired(
  db: CatalogDb,
  now: Date,
  limit: number,
  wait: ExpiryWait,
): Promise<string[]> {
  const inDoubtSeconds = sql`extract(epoch from ${now.toISOString()}::timestamptz - ${reservations.createTime}) - ${wait.ttlSeconds}::int`;
  const waitSeconds = sql`least(${wait.maxWaitSeconds}::int, greatest(${wait.minWaitSeconds}::int, ${inDoubtSeconds})) * (0.5 + random() / 2)`;
  const due = db
    .select({ orderId: reservations.orderId })
    .from(reservations)
    .where(and(eq(reservations.state, "pending"), lte(reservations.expireTime, now)))
    .orderBy(asc(reservations.expireTime))
    .limit(limit)
    .for("update", { skipLocked: true });
  const rows = await db
    .update(reservations)
    .set({
      expireTime: sql`${now.toISOString()}::timestamptz + ${waitSeconds} * interval '1 second'`,
    })
    .where(and(inArray(reservations.orderId, due), eq(reservations.state, "pending")))
    .returning({ orderId: reservations.orderId, createTime: reservations.createTime });
  return rows
    .sort((a, b) => a.createTime.getTime() - b.createTime.getTime())
    .map((row) => row.orderId);
}

/**
 * Stock held by pending reservations older than `ttlSeconds` at `now` (their order's outcome
 * was not known when they expired): units, and how long the oldest has been past its TTL.
 */
export async function inDoubt(
  db: CatalogDb,
  now: Date,
  ttlSeconds: number,
): Promise<{ units: number; oldestSeconds: number }> {
  const [row] = await db
    .select({
      units: sql<number>`coalesce(sum(${reservationItems.quantity}), 0)::int`,
      oldestSeconds: sql<number>`coalesce(max(extract(epoch from ${now.toISOString()}::timestamptz - ${reservations.createTime})), ${ttlSeconds}::int)::float8 - ${ttlSeconds}::int`,
    })
    .from(reservations)
    .innerJoin(reservationItems, eq(reservationItems.orderId, reservations.orderId))
    .where(
      and(
        eq(reservations.state, "pending"),
        lte(
          reservations.createTime,
          sql`${now.toISOString()}::timestamptz - ${ttlSeconds}::int * interval '1 second'`,
        ),
      ),
    );
  return { units: row?.units ?? 0, oldestSeconds: Math.max(0, row?.oldestSeconds ?? 0) };
}
