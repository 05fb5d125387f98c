ALTER TABLE orders DROP COLUMN doubled;
