"""Tools that stand apart from the product: they measure it (``bench``, ``loadtest``); nothing in the
product imports them."""
