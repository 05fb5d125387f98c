ALTER TABLE orders ADD CONSTRAINT ck_orders_amount CHECK (amount >= 0);
-- the rest of a longer migration: its locks are held until the commit, long enough
-- for the tracer (10 ms samples) to see them on a table of a few thousand rows
SELECT pg_sleep(0.2);
