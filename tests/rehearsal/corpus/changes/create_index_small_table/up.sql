CREATE INDEX ix_audit_happened ON audit_log (happened);
