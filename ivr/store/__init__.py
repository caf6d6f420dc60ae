"""PostgreSQL storage: migrations, and call records written off the call path."""
