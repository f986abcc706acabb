"""Data for ViT-1D: the built-in rendered corpus (`vit1d.data.render`) and its scores (`vit1d.data.scores`)."""
