ALTER TABLE orders ADD COLUMN seq serial;
