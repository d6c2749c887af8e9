// Columns every service's tables share, so that each table says the same thing the same way.
import { timestamp } from "drizzle-orm/pg-core";

/** create_time and update_time, set by the database; stores bump update_time on change. */
export const timestamps = {
  createTime: timestamp("create_time", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  updateTime: timestamp("update_time", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
};
