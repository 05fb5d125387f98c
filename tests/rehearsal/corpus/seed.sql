-- The production-like data every SQL case starts from (a few thousand rows per table).
CREATE TABLE customers (
    id integer PRIMARY KEY,
    email text,
    created_at timestamptz NOT NULL DEFAULT now(),
    nickname text
);
INSERT INTO customers (id, email, created_at, nickname)
SELECT i, 'c' || i || '@shop.example', '2026-01-01'::timestamptz + i * interval '1 minute',
       'nick' || i
FROM generate_series(1, 3000) AS i;

CREATE TABLE orders (
    id integer PRIMARY KEY,
    customer_id integer NOT NULL,
    amount integer NOT NULL,
    note text
);
INSERT INTO orders (id, customer_id, amount, note)
SELECT i, 1 + i % 3000, i % 997, CASE WHEN i % 7 = 0 THEN 'gift ' || i END
FROM generate_series(1, 60000) AS i;

CREATE TABLE audit_log (
    id integer PRIMARY KEY,
    happened text NOT NULL
);
INSERT INTO audit_log SELECT i, 'event ' || i FROM generate_series(1, 1000) AS i;
