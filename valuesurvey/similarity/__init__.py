"""Vectors and similarity: LLM means over repetitions, the exclusion rule, z-scores, cosine.

Pipeline (seed 001, section 3)::

    llm_ratings ──item_means──▶ LLM × condition vectors ──┐
                  llm_exclusions (refused in all reps)    ├─ z-score each vector ─▶ cosine of every pair
    humans ──person_matrix──▶ person vectors ─────────────┘   (zero variance: counted, NaN, reported)

The cosine of two z-scored vectors equals the Pearson correlation of the raw vectors, which is how
the kernels compute it; leave-one-out levels (RQ3) re-z-score the remaining items.
"""

from valuesurvey.similarity._kernels import (
    cosine_matrix,
    leave_out_zcosine,
    zcosine_matrix,
    zero_variance_rows,
    zscore_rows,
)
from valuesurvey.similarity._pairs import (
    SIMILARITY_COLUMNS,
    pair_similarity,
    reference_similarity,
    zero_variance_report,
)
from valuesurvey.similarity._vectors import (
    CONDITION,
    LLM_KEYS,
    PERSON_KEYS,
    item_means,
    llm_exclusions,
    person_matrix,
    wide,
    zscore,
)

__all__ = [
    "CONDITION",
    "LLM_KEYS",
    "PERSON_KEYS",
    "SIMILARITY_COLUMNS",
    "cosine_matrix",
    "item_means",
    "leave_out_zcosine",
    "llm_exclusions",
    "pair_similarity",
    "person_matrix",
    "reference_similarity",
    "wide",
    "zcosine_matrix",
    "zero_variance_report",
    "zero_variance_rows",
    "zscore",
    "zscore_rows",
]
