-- Hand-edited: UNLOGGED (schema.ts says why); drizzle-kit cannot express it.
CREATE UNLOGGED TABLE "login_failures" (
	"key" text PRIMARY KEY NOT NULL,
	"failures" integer NOT NULL,
	"last_failure_ms" bigint NOT NULL
);
--> statement-breakpoint
CREATE UNLOGGED TABLE "signup_windows" (
	"key" text PRIMARY KEY NOT NULL,
	"window_start_ms" bigint NOT NULL,
	"signups" integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX "login_failures_last_failure_idx" ON "login_failures" USING btree ("last_failure_ms");--> statement-breakpoint
CREATE INDEX "signup_windows_window_start_idx" ON "signup_windows" USING btree ("window_start_ms");