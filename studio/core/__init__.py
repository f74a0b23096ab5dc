"""Qt-free, torch-free heart of the studio: graph model, node registry, workflow files, executor."""
