-- Takes the event log's lock, then reads the chain's head in a snapshot taken after the lock was
-- granted (each statement of a VOLATILE function gets its own under READ COMMITTED): the two
-- steps of an append that must run in this order, in one round trip.
CREATE FUNCTION "sluice_event_log_head"("lock_key" bigint) RETURNS TABLE ("seq" bigint, "hash" text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock("lock_key");
  RETURN QUERY SELECT e."seq", e."hash" FROM "events" e ORDER BY e."seq" DESC LIMIT 1;
END
$$;
