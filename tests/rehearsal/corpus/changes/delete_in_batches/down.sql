INSERT INTO orders (id, customer_id, amount, note)
SELECT i, 1 + i % 300, i % 997, CASE WHEN i % 7 = 0 THEN 'gift ' || i END
FROM generate_series(1, 2000) AS i;
