CREATE SEQUENCE orders_seq_seq;
ALTER TABLE orders ADD COLUMN seq bigint;
ALTER TABLE orders ALTER COLUMN seq SET DEFAULT nextval('orders_seq_seq');
UPDATE orders SET seq = nextval('orders_seq_seq') WHERE id <= 1000;
UPDATE orders SET seq = nextval('orders_seq_seq') WHERE id > 1000;
