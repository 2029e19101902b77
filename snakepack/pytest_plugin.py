"""pytest plugin of snakepack, registered through the pytest11 entry point."""
