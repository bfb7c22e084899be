"""Summarizers: extractive key sentences for every story, abstractive when a model is there."""
