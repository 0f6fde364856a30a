"""The customer marts (group ``analytics_customer_marts``), each beside the SQL that builds it."""
