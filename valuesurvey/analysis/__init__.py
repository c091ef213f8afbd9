"""The analysis stage: vectors, similarity and the paper's models for a study directory.

>>> from valuesurvey.analysis import InstrumentDesign
>>> d = InstrumentDesign.from_items("toy", ["a", "b", "c", "d"], {"a": "X", "b": "X", "c": "Y", "d": "Y"})
>>> dict(d.removals)
{'none': (), 'X': ('a', 'b'), 'Y': ('c', 'd')}
"""

from valuesurvey.analysis._analyze import (
    EXCLUSION_RULE,
    InstrumentDesign,
    analyze_study,
    export_columns,
)

__all__ = ["EXCLUSION_RULE", "InstrumentDesign", "analyze_study", "export_columns"]
