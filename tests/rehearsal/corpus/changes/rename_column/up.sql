ALTER TABLE customers RENAME COLUMN code TO customer_code;
