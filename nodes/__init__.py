"""Built-in node types. Each module declares its node types with ``@node``; the registry finds
them by walking this package, so a new node type is one new file here."""
