ALTER TABLE orders ADD CONSTRAINT ck_orders_amount CHECK (amount >= 0);
