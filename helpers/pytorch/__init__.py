"""The PyTorch wing: models and their registry, the training loop, the recipes, augmentation, robustness (notebooks 06-08)."""
