"""The CLI's commands, one module per group; each registers its parsers and calls the Authority."""
