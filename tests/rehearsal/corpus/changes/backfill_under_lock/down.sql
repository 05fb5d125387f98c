ALTER TABLE orders DROP COLUMN flagged;
