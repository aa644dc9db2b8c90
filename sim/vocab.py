"""The model's vocabulary: firm kinds, exit causes, the calendar origin and units.

Defined once here and imported by the schema, the model, tables, figures and reports. This module
imports nothing heavy (no Mesa, numpy or pandas), so a figure or report never loads the model to
learn a list of names.
"""

from __future__ import annotations

from typing import Final, Literal

#: The source report's four kinds of foundation-model developer, in display order.
FirmKind = Literal["megatech", "startup", "institute", "vertical"]
KINDS: Final[tuple[FirmKind, ...]] = ("megatech", "startup", "institute", "vertical")

#: Kinds that raise venture money (the others are funded by a parent or a grant).
VENTURE_KINDS: Final[tuple[FirmKind, ...]] = ("startup", "vertical")

#: Ways a firm leaves the foundation-model market, as written in the event log.
ExitCause = Literal["bankrupt", "acquired", "pivoted"]
EXIT_CAUSES: Final[tuple[ExitCause, ...]] = ("bankrupt", "acquired", "pivoted")

#: Status of a firm in the market that pre-trains its own base model (a developer).
ACTIVE: Final = "active"

#: Status of a firm that stopped pre-training but still sells, building on others' models.
APP_LAYER: Final = "app_layer"

#: Month index 0 of the simulation is January of this year (the first Chinese large models).
START_YEAR: Final = 2021
START_MONTH: Final = 1

#: Month index of 2023-01, the reference date of demand and price parameters.
REFERENCE_MONTH: Final = (2023 - START_YEAR) * 12

#: Months in a quarter: a firm that "raised no round this quarter" was last funded longer ago.
QUARTER_MONTHS: Final = 3

#: One RMB in million RMB: payments below it are rounding dust, not events.
ONE_RMB_M: Final = 1e-6

#: Units used throughout (documented once; names carry them as suffixes).
UNITS: Final[dict[str, str]] = {
    "m_rmb": "million RMB",
    "bn_rmb": "billion RMB",
    "h100e": "H100-equivalent accelerators (or accelerator-months for flows)",
    "log10": "log10 of effective H100e-months of training (capability)",
    "users_m": "millions of users",
    "price_index": "price relative to the 2023 reference price (1 = reference)",
}
