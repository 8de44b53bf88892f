CREATE TABLE "attempts" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "attempts_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"signal_id" text NOT NULL,
	"n" bigint NOT NULL,
	"at" bigint NOT NULL,
	"outcome" text NOT NULL,
	"error" text
);
--> statement-breakpoint
CREATE TABLE "deliveries" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "deliveries_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"at" bigint NOT NULL,
	"source" text NOT NULL,
	"reason" text NOT NULL,
	"issues" text NOT NULL,
	"request_id" text NOT NULL,
	"body_excerpt" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "events" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"at" text NOT NULL,
	"type" text NOT NULL,
	"signal_id" text,
	"data" text NOT NULL,
	"prev_hash" text NOT NULL,
	"hash" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mock_orders" (
	"connector" text NOT NULL,
	"client_order_id" text NOT NULL,
	"order_id" text NOT NULL,
	"instrument" text NOT NULL,
	"side" text NOT NULL,
	"quantity" double precision NOT NULL,
	"order_type" text NOT NULL,
	"limit_price" double precision,
	"status" text NOT NULL,
	"filled_quantity" double precision NOT NULL,
	"fill_price" double precision,
	"created_at" bigint NOT NULL,
	CONSTRAINT "mock_orders_connector_client_order_id_pk" PRIMARY KEY("connector","client_order_id")
);
--> statement-breakpoint
CREATE TABLE "mock_positions" (
	"connector" text NOT NULL,
	"instrument" text NOT NULL,
	"quantity" double precision NOT NULL,
	"avg_price" double precision NOT NULL,
	CONSTRAINT "mock_positions_connector_instrument_pk" PRIMARY KEY("connector","instrument")
);
--> statement-breakpoint
CREATE TABLE "nonces" (
	"source" text NOT NULL,
	"nonce" text NOT NULL,
	"expires_at" bigint NOT NULL,
	CONSTRAINT "nonces_source_nonce_pk" PRIMARY KEY("source","nonce")
);
--> statement-breakpoint
CREATE TABLE "pnl_days" (
	"connector" text NOT NULL,
	"day" text NOT NULL,
	"realized" double precision NOT NULL,
	CONSTRAINT "pnl_days_connector_day_pk" PRIMARY KEY("connector","day")
);
--> statement-breakpoint
CREATE TABLE "positions" (
	"connector" text NOT NULL,
	"instrument" text NOT NULL,
	"quantity" double precision NOT NULL,
	"avg_price" double precision NOT NULL,
	"last_price" double precision,
	"updated_at" bigint NOT NULL,
	CONSTRAINT "positions_connector_instrument_pk" PRIMARY KEY("connector","instrument")
);
--> statement-breakpoint
CREATE TABLE "reservations" (
	"signal_id" text PRIMARY KEY NOT NULL,
	"connector" text NOT NULL,
	"instrument" text NOT NULL,
	"quantity" double precision NOT NULL,
	"notional" double precision NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "runtime_state" (
	"key" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "signals" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "signals_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"id" text NOT NULL,
	"source" text NOT NULL,
	"idempotency_key" text NOT NULL,
	"dedupe_key" text NOT NULL,
	"key_kind" text NOT NULL,
	"fingerprint" text NOT NULL,
	"status" text NOT NULL,
	"connector" text NOT NULL,
	"instrument" text NOT NULL,
	"client_order_id" text NOT NULL,
	"signal" text NOT NULL,
	"decision" text,
	"result" text,
	"request_id" text,
	"received_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL,
	"decided_at" bigint,
	"order_side" text,
	"lease_owner" text,
	"lease_until" bigint
);
--> statement-breakpoint
CREATE INDEX "attempts_signal_idx" ON "attempts" USING btree ("signal_id","n");--> statement-breakpoint
CREATE INDEX "events_signal_idx" ON "events" USING btree ("signal_id");--> statement-breakpoint
CREATE INDEX "mock_orders_created_idx" ON "mock_orders" USING btree ("connector","created_at");--> statement-breakpoint
CREATE INDEX "nonces_expires_idx" ON "nonces" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "reservations_connector_idx" ON "reservations" USING btree ("connector");--> statement-breakpoint
CREATE UNIQUE INDEX "signals_id_uq" ON "signals" USING btree ("id");--> statement-breakpoint
CREATE UNIQUE INDEX "signals_source_dedupe_uq" ON "signals" USING btree ("source","dedupe_key");--> statement-breakpoint
CREATE INDEX "signals_status_seq_idx" ON "signals" USING btree ("status","seq");--> statement-breakpoint
CREATE INDEX "signals_lane_idx" ON "signals" USING btree ("connector","instrument","status","seq");--> statement-breakpoint
CREATE INDEX "signals_decided_at_idx" ON "signals" USING btree ("decided_at");--> statement-breakpoint
CREATE INDEX "signals_received_at_idx" ON "signals" USING btree ("received_at");