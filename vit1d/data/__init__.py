"""The pretraining pipeline: where tracks come from (`vit1d.data.sources`: folders, manifests, datasets, the Hub),
how positive pairs are drawn (`vit1d.data.pairs`), and the stream of batches with its sharding, skips and exact
resume (`vit1d.data.streaming`). The rendered benchmark corpus is `vit1d.corpus`."""
