CREATE TABLE "outbox" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"event_id" uuid NOT NULL,
	"subject" text NOT NULL,
	"thing_id" uuid NOT NULL,
	"sequence" bigint NOT NULL,
	"payload" "bytea" NOT NULL,
	"occur_time" timestamp with time zone NOT NULL,
	"txid" "xid8" DEFAULT pg_current_xact_id() NOT NULL,
	"published_time" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "event_seq" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "outbox_unpublished_idx" ON "outbox" USING btree ("id") WHERE "outbox"."published_time" is null;--> statement-breakpoint
CREATE INDEX "outbox_txid_id_idx" ON "outbox" USING btree ("txid","id");--> statement-breakpoint
CREATE INDEX "outbox_occur_time_brin_idx" ON "outbox" USING brin ("occur_time");