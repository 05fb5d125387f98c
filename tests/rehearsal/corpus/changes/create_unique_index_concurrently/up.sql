CREATE UNIQUE INDEX CONCURRENTLY ux_customers_email ON customers (email);
