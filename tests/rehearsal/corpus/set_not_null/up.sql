ALTER TABLE customers ALTER COLUMN email SET NOT NULL;
-- the rest of a longer migration: its locks are held until the commit, long enough
-- for the tracer (10 ms samples) to see them on a table of a few thousand rows
SELECT pg_sleep(0.2);
