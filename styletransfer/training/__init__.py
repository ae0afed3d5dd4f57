"""Training our own networks (``python -m styletransfer.training.train``); the architectures themselves are
the product's (``styletransfer.nets``), since a trained checkpoint is built from them wherever it is used."""
