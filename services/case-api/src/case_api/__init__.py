"""case-api: the system of record — cases, messages, contacts, departments, the operators' API."""
