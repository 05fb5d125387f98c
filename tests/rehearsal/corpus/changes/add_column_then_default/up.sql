ALTER TABLE orders ADD COLUMN token double precision;
ALTER TABLE orders ALTER COLUMN token SET DEFAULT random();
UPDATE orders SET token = random() WHERE id <= 1000;
UPDATE orders SET token = random() WHERE id > 1000;
