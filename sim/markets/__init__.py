"""Market-clearing functions: pure, vectorised with numpy, never see the model.

Each takes arrays (one entry per firm, or segments x firms) and returns arrays; units are stated in
every docstring. They are unit-tested against hand-computed values in ``tests/test_markets.py``.
"""
