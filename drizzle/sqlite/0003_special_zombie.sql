CREATE TABLE `mock_prices` (
	`connector` text NOT NULL,
	`instrument` text NOT NULL,
	`price` real NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`connector`, `instrument`)
);
--> statement-breakpoint
CREATE TABLE `orders` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`client_order_id` text NOT NULL,
	`connector` text NOT NULL,
	`signal_id` text NOT NULL,
	`instrument` text NOT NULL,
	`order_id` text,
	`side` text NOT NULL,
	`quantity` real NOT NULL,
	`order_type` text NOT NULL,
	`limit_price` real,
	`status` text NOT NULL,
	`open` integer NOT NULL,
	`filled_quantity` real NOT NULL,
	`avg_fill_price` real,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `orders_client_order_id_uq` ON `orders` (`client_order_id`);--> statement-breakpoint
CREATE INDEX `orders_signal_idx` ON `orders` (`signal_id`);--> statement-breakpoint
CREATE INDEX `orders_open_idx` ON `orders` (`open`,`connector`,`instrument`);--> statement-breakpoint
CREATE INDEX `orders_connector_seq_idx` ON `orders` (`connector`,`seq`);--> statement-breakpoint
ALTER TABLE `mock_orders` ADD `stop_price` real;--> statement-breakpoint
ALTER TABLE `mock_orders` ADD `time_in_force` text DEFAULT 'gtc' NOT NULL;--> statement-breakpoint
ALTER TABLE `mock_orders` ADD `price` real;--> statement-breakpoint
ALTER TABLE `mock_orders` ADD `next_fill_at` integer;--> statement-breakpoint
ALTER TABLE `mock_orders` ADD `expires_at` integer;--> statement-breakpoint
ALTER TABLE `mock_orders` ADD `updated_at` integer DEFAULT 0 NOT NULL;