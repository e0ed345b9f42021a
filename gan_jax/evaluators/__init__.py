"""Sample-quality metrics and the feature extractors they use."""
