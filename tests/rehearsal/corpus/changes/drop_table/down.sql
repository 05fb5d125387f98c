CREATE TABLE audit_log (id integer PRIMARY KEY, happened text NOT NULL);
