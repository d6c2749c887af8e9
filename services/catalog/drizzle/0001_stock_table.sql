-- Stock moves out of the product row (which carries the search vector and its GIN entries)
-- into a narrow table whose pages keep room for HOT updates: an order's decrement rewrites
-- only that small row. Reservation items remember the unit price their stock was taken at.
CREATE TABLE "product_stock" (
	"product_id" uuid PRIMARY KEY NOT NULL,
	"stock" integer NOT NULL,
	CONSTRAINT "product_stock_stock_check" CHECK ("product_stock"."stock" >= 0)
) WITH (fillfactor = 50);
--> statement-breakpoint
INSERT INTO "product_stock" ("product_id", "stock") SELECT "id", "stock" FROM "products";--> statement-breakpoint
ALTER TABLE "products" DROP CONSTRAINT "products_stock_check";--> statement-breakpoint
ALTER TABLE "reservation_items" ADD COLUMN "unit_price_cents" bigint;--> statement-breakpoint
UPDATE "reservation_items" SET "unit_price_cents" = "products"."price_cents" FROM "products" WHERE "products"."id" = "reservation_items"."product_id";--> statement-breakpoint
ALTER TABLE "product_stock" ADD CONSTRAINT "product_stock_product_id_products_id_fk" FOREIGN KEY ("product_id") REFERENCES "public"."products"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "products" DROP COLUMN "stock";
