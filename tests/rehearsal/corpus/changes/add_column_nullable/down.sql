ALTER TABLE orders DROP COLUMN discount;
