"""shop: a small FastAPI + PostgreSQL web shop, the example service for stageline."""
