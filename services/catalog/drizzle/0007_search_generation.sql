-- Search's generation (schema.ts, store/search.ts): one row, raised by every statement that
-- changes which products exist or what their text says, in that statement's transaction, so a
-- reader sees a new generation exactly when it can see the change. Price, stock and update_time
-- alone leave it be (UPDATE OF lists the columns that fire it).
CREATE TABLE "search_generation" (
	"id" boolean PRIMARY KEY DEFAULT true NOT NULL,
	"generation" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "search_generation_one_row" CHECK ("search_generation"."id")
);
--> statement-breakpoint
INSERT INTO "search_generation" ("id", "generation") VALUES (true, 0);--> statement-breakpoint
CREATE FUNCTION "raise_search_generation"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE "search_generation" SET "generation" = "generation" + 1;
	RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER "products_search_generation"
	AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF "name", "description" ON "products"
	FOR EACH STATEMENT EXECUTE FUNCTION "raise_search_generation"();
