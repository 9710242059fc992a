"""Named read-only queries over the warehouse views, shared by the CLI, the API and the pages."""
