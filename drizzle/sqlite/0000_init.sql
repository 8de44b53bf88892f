CREATE TABLE `attempts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`signal_id` text NOT NULL,
	`n` integer NOT NULL,
	`at` integer NOT NULL,
	`outcome` text NOT NULL,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `attempts_signal_idx` ON `attempts` (`signal_id`,`n`);--> statement-breakpoint
CREATE TABLE `deliveries` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`source` text NOT NULL,
	`reason` text NOT NULL,
	`issues` text NOT NULL,
	`request_id` text NOT NULL,
	`body_excerpt` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `events` (
	`seq` integer PRIMARY KEY NOT NULL,
	`at` text NOT NULL,
	`type` text NOT NULL,
	`signal_id` text,
	`data` text NOT NULL,
	`prev_hash` text NOT NULL,
	`hash` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_signal_idx` ON `events` (`signal_id`);--> statement-breakpoint
CREATE TABLE `mock_orders` (
	`connector` text NOT NULL,
	`client_order_id` text NOT NULL,
	`order_id` text NOT NULL,
	`instrument` text NOT NULL,
	`side` text NOT NULL,
	`quantity` real NOT NULL,
	`order_type` text NOT NULL,
	`limit_price` real,
	`status` text NOT NULL,
	`filled_quantity` real NOT NULL,
	`fill_price` real,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`connector`, `client_order_id`)
);
--> statement-breakpoint
CREATE INDEX `mock_orders_created_idx` ON `mock_orders` (`connector`,`created_at`);--> statement-breakpoint
CREATE TABLE `mock_positions` (
	`connector` text NOT NULL,
	`instrument` text NOT NULL,
	`quantity` real NOT NULL,
	`avg_price` real NOT NULL,
	PRIMARY KEY(`connector`, `instrument`)
);
--> statement-breakpoint
CREATE TABLE `nonces` (
	`source` text NOT NULL,
	`nonce` text NOT NULL,
	`expires_at` integer NOT NULL,
	PRIMARY KEY(`source`, `nonce`)
);
--> statement-breakpoint
CREATE INDEX `nonces_expires_idx` ON `nonces` (`expires_at`);--> statement-breakpoint
CREATE TABLE `pnl_days` (
	`connector` text NOT NULL,
	`day` text NOT NULL,
	`realized` real NOT NULL,
	PRIMARY KEY(`connector`, `day`)
);
--> statement-breakpoint
CREATE TABLE `positions` (
	`connector` text NOT NULL,
	`instrument` text NOT NULL,
	`quantity` real NOT NULL,
	`avg_price` real NOT NULL,
	`last_price` real,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`connector`, `instrument`)
);
--> statement-breakpoint
CREATE TABLE `reservations` (
	`signal_id` text PRIMARY KEY NOT NULL,
	`connector` text NOT NULL,
	`instrument` text NOT NULL,
	`quantity` real NOT NULL,
	`notional` real NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `reservations_connector_idx` ON `reservations` (`connector`);--> statement-breakpoint
CREATE TABLE `runtime_state` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `signals` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`source` text NOT NULL,
	`idempotency_key` text NOT NULL,
	`dedupe_key` text NOT NULL,
	`key_kind` text NOT NULL,
	`fingerprint` text NOT NULL,
	`status` text NOT NULL,
	`connector` text NOT NULL,
	`instrument` text NOT NULL,
	`client_order_id` text NOT NULL,
	`signal` text NOT NULL,
	`decision` text,
	`result` text,
	`request_id` text,
	`received_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`decided_at` integer,
	`order_side` text,
	`lease_owner` text,
	`lease_until` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `signals_id_uq` ON `signals` (`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `signals_source_dedupe_uq` ON `signals` (`source`,`dedupe_key`);--> statement-breakpoint
CREATE INDEX `signals_status_seq_idx` ON `signals` (`status`,`seq`);--> statement-breakpoint
CREATE INDEX `signals_lane_idx` ON `signals` (`connector`,`instrument`,`status`,`seq`);--> statement-breakpoint
CREATE INDEX `signals_decided_at_idx` ON `signals` (`decided_at`);--> statement-breakpoint
CREATE INDEX `signals_received_at_idx` ON `signals` (`received_at`);