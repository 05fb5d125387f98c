ALTER TABLE customers ALTER COLUMN code TYPE varchar(20);
