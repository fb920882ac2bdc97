"""Which sections and fields the Model and Training tabs show, per model type."""
