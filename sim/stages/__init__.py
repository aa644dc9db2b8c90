"""The model's monthly stages as pure functions: arrays and parameters in, arrays out.

Each function takes the firm table's columns (or scalars of the market) and scenario parameter
blocks, never the model, and is tested alone with hand-computed cases (``tests/test_stages.py``).
``sim.model.GenAIMarket.step`` calls them in order; the Mesa agents take the decisions that draw
on their own random streams.

* ``environment``: hype, venture inflow, the frontier-talent pool, chip supply.
* ``finance``: R&D budgets, funding scores, co-funding claims, monthly settlement.
* ``training``: capability from compute and talent.
"""
