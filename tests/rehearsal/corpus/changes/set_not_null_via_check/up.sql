ALTER TABLE customers ADD CONSTRAINT ck_status_not_null CHECK (status IS NOT NULL) NOT VALID;
ALTER TABLE customers VALIDATE CONSTRAINT ck_status_not_null;
ALTER TABLE customers ALTER COLUMN status SET NOT NULL;
ALTER TABLE customers DROP CONSTRAINT ck_status_not_null;
