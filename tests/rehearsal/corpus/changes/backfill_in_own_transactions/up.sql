ALTER TABLE orders ADD COLUMN flagged boolean;
UPDATE orders SET flagged = false WHERE id <= 1000;
UPDATE orders SET flagged = false WHERE id > 1000;
