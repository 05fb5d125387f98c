ALTER TABLE customers RENAME COLUMN customer_code TO code;
