ALTER TABLE orders ADD CONSTRAINT ck_orders_amount CHECK (amount >= 0) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_amount;
