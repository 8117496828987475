"""Like modules/paths_internal.py; tests point these at a temporary WebUI folder."""

data_path = "."
models_path = "./models"
