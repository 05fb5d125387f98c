CREATE UNIQUE INDEX CONCURRENTLY uq_customers_email ON customers (email);
ALTER TABLE customers ADD CONSTRAINT uq_customers_email UNIQUE USING INDEX uq_customers_email;
