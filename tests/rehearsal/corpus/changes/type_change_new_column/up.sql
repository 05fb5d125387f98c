ALTER TABLE orders ADD COLUMN amount_big bigint;
UPDATE orders SET amount_big = amount WHERE id <= 1000;
UPDATE orders SET amount_big = amount WHERE id > 1000;
