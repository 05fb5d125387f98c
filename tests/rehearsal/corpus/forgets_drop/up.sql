CREATE TABLE coupons (code text PRIMARY KEY, percent integer NOT NULL);
ALTER TABLE orders ADD COLUMN coupon text;
