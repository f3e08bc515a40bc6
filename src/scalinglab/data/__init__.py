"""Corpora, tokenizers, token shards and batch samplers for pretraining."""
