ALTER TABLE orders ADD COLUMN discount integer;
