ALTER TABLE orders DROP COLUMN coupon;
-- forgot: DROP TABLE coupons;
