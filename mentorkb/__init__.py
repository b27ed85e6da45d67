"""mentorkb: a knowledge base and recommender built from mentoring conversations."""

__version__ = "0.1.0"
