ALTER TABLE orders ADD COLUMN doubled integer;
UPDATE orders SET doubled = amount * 2 WHERE id <= 1000;
UPDATE orders SET doubled = amount * 2 WHERE id > 1000;
