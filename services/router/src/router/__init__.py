"""router: classifies every inbound message and proposes the department that owns it."""
