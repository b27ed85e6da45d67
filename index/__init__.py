"""What is persisted and searched: the metadata store, the embedder and the vector index."""
