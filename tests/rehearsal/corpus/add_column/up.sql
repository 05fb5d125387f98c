-- metadata only: no rewrite, no scan
ALTER TABLE orders ADD COLUMN discount integer;
