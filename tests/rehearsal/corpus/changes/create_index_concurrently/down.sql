DROP INDEX ix_orders_customer;
