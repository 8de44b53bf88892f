ALTER TABLE `deliveries` ADD `code` text;--> statement-breakpoint
ALTER TABLE `deliveries` ADD `bucket` text DEFAULT 'other' NOT NULL;--> statement-breakpoint
CREATE INDEX `deliveries_bucket_seq_idx` ON `deliveries` (`bucket`,`seq`);