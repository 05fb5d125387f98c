ALTER TABLE customers DROP CONSTRAINT uq_customers_email;
