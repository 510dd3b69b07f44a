"""Evaluation of pretrained encoders: features, kNN retrieval, linear evaluation, fine-tuning
(semi-supervised and transfer), ensembles of streams, and the result records and report."""
