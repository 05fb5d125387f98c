DROP INDEX ix_audit_happened;
