"""The location's resources: bound to every job, not definitions of their own."""

from platform_shared.resources import warehouse
from transformation.io_managers import warehouse_io_manager

RESOURCES = {
    "warehouse": warehouse(),
    # DataFrames (customer_emails, and the snapshot it reads) live in the warehouse.
    "io_manager": warehouse_io_manager(),
}
