"""Training our own networks; their architectures are the product's (``styletransfer.nets``)."""
