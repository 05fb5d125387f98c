ALTER TABLE orders ALTER COLUMN amount TYPE integer;
