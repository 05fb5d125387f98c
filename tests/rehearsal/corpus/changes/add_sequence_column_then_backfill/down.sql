ALTER TABLE orders DROP COLUMN seq;
DROP SEQUENCE orders_seq_seq;
