"""Reference snapshots: customers and products, each load replacing its whole table."""
