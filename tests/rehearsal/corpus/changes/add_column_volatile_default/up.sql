ALTER TABLE orders ADD COLUMN token double precision DEFAULT random();
