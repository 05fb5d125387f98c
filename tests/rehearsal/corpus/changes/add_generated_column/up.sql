ALTER TABLE orders ADD COLUMN doubled integer GENERATED ALWAYS AS (amount * 2) STORED;
