"""Testing support for users of cnilib: fake executors, fake plugins, Hypothesis strategies, fixtures."""
