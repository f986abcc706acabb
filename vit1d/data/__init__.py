"""Data for ViT-1D: the built-in rendered corpus (`vit1d.data.render`) and its scores: generated grooves and the chord
vocabulary (`vit1d.data.scores`), Bach chorales from the music21 corpus (`vit1d.data.chorales`)."""
