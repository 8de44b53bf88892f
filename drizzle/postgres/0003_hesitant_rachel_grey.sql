CREATE TABLE "mock_prices" (
	"connector" text NOT NULL,
	"instrument" text NOT NULL,
	"price" double precision NOT NULL,
	"updated_at" bigint NOT NULL,
	CONSTRAINT "mock_prices_connector_instrument_pk" PRIMARY KEY("connector","instrument")
);
--> statement-breakpoint
CREATE TABLE "orders" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "orders_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"client_order_id" text NOT NULL,
	"connector" text NOT NULL,
	"signal_id" text NOT NULL,
	"instrument" text NOT NULL,
	"order_id" text,
	"side" text NOT NULL,
	"quantity" double precision NOT NULL,
	"order_type" text NOT NULL,
	"limit_price" double precision,
	"status" text NOT NULL,
	"open" integer NOT NULL,
	"filled_quantity" double precision NOT NULL,
	"avg_fill_price" double precision,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "mock_orders" ADD COLUMN "stop_price" double precision;--> statement-breakpoint
ALTER TABLE "mock_orders" ADD COLUMN "time_in_force" text DEFAULT 'gtc' NOT NULL;--> statement-breakpoint
ALTER TABLE "mock_orders" ADD COLUMN "price" double precision;--> statement-breakpoint
ALTER TABLE "mock_orders" ADD COLUMN "next_fill_at" bigint;--> statement-breakpoint
ALTER TABLE "mock_orders" ADD COLUMN "expires_at" bigint;--> statement-breakpoint
ALTER TABLE "mock_orders" ADD COLUMN "updated_at" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "orders_client_order_id_uq" ON "orders" USING btree ("client_order_id");--> statement-breakpoint
CREATE INDEX "orders_signal_idx" ON "orders" USING btree ("signal_id");--> statement-breakpoint
CREATE INDEX "orders_open_idx" ON "orders" USING btree ("open","connector","instrument");--> statement-breakpoint
CREATE INDEX "orders_connector_seq_idx" ON "orders" USING btree ("connector","seq");