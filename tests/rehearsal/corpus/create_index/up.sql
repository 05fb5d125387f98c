CREATE INDEX ix_orders_customer ON orders (customer_id);
-- the rest of a longer migration: the index build's ShareLock is held until the commit
SELECT pg_sleep(0.4);
