ALTER TABLE "orders" ADD COLUMN "fulfilment" text DEFAULT 'placed' NOT NULL;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "cancel_reason" text;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "return_pending" boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX "orders_confirmed_newest" ON "orders" USING btree ("create_time" DESC NULLS LAST,"id" DESC NULLS LAST) WHERE "orders"."status" = 'confirmed';--> statement-breakpoint
CREATE INDEX "orders_return_pending" ON "orders" USING btree ("update_time") WHERE "orders"."return_pending";--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_fulfilment_check" CHECK ("orders"."fulfilment" in ('placed', 'shipped', 'cancelled'));