"""The model's stages, grouped by theme as mixins of ``sim.model.GenAIMarket``.

Each stage wires the firm table (``sim.state``) to the pure functions of ``sim.stages`` and
``sim.markets`` and to the agents' decisions; ``GenAIMarket.step`` calls them in order. They are
methods of the model (they read and write its state), kept here so that ``sim/model.py`` is the
schedule, the helpers and the initial state.
"""
