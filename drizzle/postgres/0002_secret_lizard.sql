ALTER TABLE "deliveries" ADD COLUMN "code" text;--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "bucket" text DEFAULT 'other' NOT NULL;--> statement-breakpoint
CREATE INDEX "deliveries_bucket_seq_idx" ON "deliveries" USING btree ("bucket","seq");