CREATE TABLE refunds (id integer PRIMARY KEY, order_id integer NOT NULL REFERENCES orders (id), amount integer NOT NULL);
CREATE INDEX ix_refunds_order ON refunds (order_id);
