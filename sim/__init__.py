"""genai-market-sim: an agent-based model of China's generative-AI industry (Mesa 3).

Import nothing heavy here: the package must have no import-time side effects.
"""

__version__ = "0.1.0"
