"""Built-in plugins: ordinary hook implementations registered by the manager."""
