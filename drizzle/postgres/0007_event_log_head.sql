-- The first steps of an event append, in one round trip: the event log's lock, then the chain's
-- head read in a snapshot taken after the lock was granted (each statement of a VOLATILE plpgsql
-- function gets its own under READ COMMITTED; a STABLE one was seen to read a stale head),
-- then the notification of the seq the append ends at (delivered only if the transaction commits).
CREATE FUNCTION "sluice_event_log_head"("lock_key" bigint, "channel" text, "appending" bigint) RETURNS TABLE ("seq" bigint, "hash" text)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
  head_seq bigint;
  head_hash text;
BEGIN
  PERFORM pg_advisory_xact_lock("lock_key");
  SELECT e."seq", e."hash" INTO head_seq, head_hash FROM "events" e ORDER BY e."seq" DESC LIMIT 1;
  PERFORM pg_notify("channel", (coalesce(head_seq, 0) + "appending")::text);
  IF head_seq IS NOT NULL THEN
    RETURN QUERY SELECT head_seq, head_hash;
  END IF;
END
$$;
