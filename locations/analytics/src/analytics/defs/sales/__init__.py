"""The sales marts (group ``analytics_sales_marts``), each beside the SQL that builds it."""
