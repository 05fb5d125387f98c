-- The corpus of schema changes (test_corpus_changes.py) starts from this small data:
-- production's sizes are given as facts (orders 38 GB, customers 2 GB, audit_log 5 MB),
-- so the projections scale without the rows.
CREATE TABLE customers (
    id integer PRIMARY KEY,
    email text,
    code varchar(20),
    status text DEFAULT 'new',
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO customers (id, email, code, status)
SELECT i, 'c' || i || '@shop.example', 'C' || i, 'new' FROM generate_series(1, 300) AS i;

CREATE TABLE orders (
    id integer PRIMARY KEY,
    customer_id integer NOT NULL,
    amount integer NOT NULL,
    note text
);
INSERT INTO orders (id, customer_id, amount, note)
SELECT i, 1 + i % 300, i % 997, CASE WHEN i % 7 = 0 THEN 'gift ' || i END
FROM generate_series(1, 2000) AS i;

CREATE TABLE audit_log (
    id integer PRIMARY KEY,
    happened text NOT NULL
);
INSERT INTO audit_log SELECT i, 'event ' || i FROM generate_series(1, 200) AS i;
