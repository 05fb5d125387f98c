DROP INDEX ux_customers_email;
