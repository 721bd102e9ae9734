"""Built-in networks, one module each; every module exposes ``build(width, height) -> LayerTable``."""
