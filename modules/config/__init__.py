"""OneTrainer-compatible configs: schema, migrations, validation and the files they live in."""
