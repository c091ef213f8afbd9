"""Deterministic SYNTHETIC human data files in the real layouts (WVS-7 .sav/.dta, MFQ-2 OSF CSV/.sav).

The real files cannot be redistributed (see ``data/README.md``), so the project ships these instead.
They are simulated respondents, labelled SYNTHETIC in every file name and inside every file (the file
label of .sav and .dta files, the WVS ``version`` column, the ``data_label`` column of the CSV), and calibrated
to public aggregates in ``valuesurvey/humans/reference/``:

- WVS-7: each item's marginal distribution on 1-10 is the maximum-entropy distribution with the
  reference mean and SD (China n=2931, USA n=2443, complete cases); answers come from an ordinal
  latent-variable model (two correlated person factors, "dishonesty/violence" and "personal/sexual",
  so items correlate within a person as in real data), plus straight-liners (all 1s) and missing
  codes -1, -2, -4, -5 in as many respondents as the real release has incomplete rows.
- MFQ-2: the same model on 1-5, with six correlated foundation factors, calibrated to this project's
  foundation-profile assumption (``mfq2_foundation_profiles.csv``: NOT published aggregates).

Everything is drawn from one seeded generator in a fixed order, so the files are reproduced value
for value (CSV and YAML byte for byte; .sav and .dta embed their creation time).
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
from scipy import optimize, stats

from valuesurvey import _io
from valuesurvey.humans.mfq import MFQ2_DROPPED_COLUMNS, MFQ2_FOUNDATIONS, MFQ2_ITEMS, STUDY2_COLUMNS
from valuesurvey.humans.wvs import WVS7_ITEMS

__all__ = [
    "DEFAULT_SEED",
    "RELEASE_COUNTRIES",
    "RELEASE_NOT_ASKED",
    "SYNTHETIC_FILES",
    "maxent_distribution",
    "mfq2_synthetic_frame",
    "release_size_frame",
    "shipped_files",
    "write_country_files",
    "write_release_size_sav",
    "write_synthetic_files",
    "wvs7_synthetic_frame",
]

DEFAULT_SEED = 20251123
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "data" / "synthetic"

#: key -> file name, as written by :func:`write_synthetic_files`.
SYNTHETIC_FILES = {
    "wvs7_sav": "SYNTHETIC_wvs7_chn_usa.sav",
    "wvs7_dta": "SYNTHETIC_wvs7_chn_usa.dta",
    "mfq2_csv": "SYNTHETIC_mfq2_study2_layout.csv",
    "mfq2_sav": "SYNTHETIC_mfq2_MFQ_names.sav",
    "mfq2_mapping": "SYNTHETIC_mfq2_MFQ_names.mapping.yaml",
}

WVS_LABEL = "SYNTHETIC WVS-7 layout: simulated respondents calibrated to published means, NOT WVS data"
MFQ_LABEL = "SYNTHETIC MFQ-2 layout: simulated respondents from an assumed profile, NOT MFQ-2 data"


@dataclass(frozen=True)
class _WvsCountry:
    alpha3: str
    numeric: int
    cow: int
    year: int
    n: int  # respondents in the release (the real CHN/USA sample sizes)
    incomplete: int  # respondents with at least one missing code, as in the release
    straight_liners: float


_WVS_COUNTRIES = (
    _WvsCountry("CHN", 156, 710, 2018, 3036, 3036 - 2931, 0.015),
    _WvsCountry("USA", 840, 2, 2017, 2596, 2596 - 2443, 0.010),
)
#: Items of the "personal/sexual" factor; the others load on "dishonesty/violence"; Q195 loads weakly.
_PERSONAL = {"Q182", "Q183", "Q184", "Q185", "Q186", "Q187", "Q188", "Q193"}
_WVS_LABELS = {
    "Q177": "Claiming government benefits to which you are not entitled",
    "Q178": "Avoiding a fare on public transport",
    "Q179": "Stealing property",
    "Q180": "Cheating on taxes",
    "Q181": "Someone accepting a bribe in the course of their duties",
    "Q182": "Homosexuality",
    "Q183": "Prostitution",
    "Q184": "Abortion",
    "Q185": "Divorce",
    "Q186": "Sex before marriage",
    "Q187": "Suicide",
    "Q188": "Euthanasia",
    "Q189": "For a man to beat his wife",
    "Q190": "Parents beating children",
    "Q191": "Violence against other people",
    "Q192": "Terrorism as a political, ideological or religious mean",
    "Q193": "Having casual sex",
    "Q194": "Political violence",
    "Q195": "Death penalty",
}
_WVS_MISSING_LABELS = {
    -1.0: "Don't know",
    -2.0: "No answer",
    -3.0: "Not applicable",
    -4.0: "Not asked in survey",
    -5.0: "Missing; Not available",
}


def _reference(name: str) -> pd.DataFrame:
    with resources.files("valuesurvey.humans").joinpath("reference", name).open("rb") as handle:
        return pd.read_csv(handle)


def maxent_distribution(mean: float, sd: float, low: int, high: int) -> np.ndarray:
    """The maximum-entropy distribution on the integers ``low..high`` with a given mean and SD.

    Parameters
    ----------
    mean, sd : float
        Target moments; the SD must be attainable on the scale.
    low, high : int
        Scale end points.

    Returns
    -------
    numpy.ndarray
        Probabilities of ``low, ..., high`` (of the form exp(a*x + b*x**2), normalised).

    Examples
    --------
    >>> p = maxent_distribution(3.0, 1.0, 1, 5)
    >>> x = np.arange(1, 6)
    >>> round(float(p @ x), 6), round(float(np.sqrt(p @ (x - 3.0) ** 2)), 6)
    (3.0, 1.0)
    """
    x = np.arange(low, high + 1, dtype=float)
    centre, half = (low + high) / 2, (high - low) / 2
    u = (x - centre) / half

    def probabilities(params: np.ndarray) -> np.ndarray:
        logits = params[0] * u + params[1] * u**2
        weights = np.exp(logits - logits.max())
        return weights / weights.sum()

    def moments_gap(params: np.ndarray) -> np.ndarray:
        p = probabilities(params)
        m = p @ x
        return np.array([m - mean, np.sqrt(p @ (x - m) ** 2) - sd])

    solution = optimize.least_squares(moments_gap, x0=np.zeros(2), xtol=1e-14, ftol=1e-14, gtol=1e-14)
    if np.max(np.abs(solution.fun)) > 1e-6:
        raise ValueError(f"no distribution on {low}..{high} has mean {mean} and SD {sd}")
    return probabilities(solution.x)


def _ordinal_by_rank(latent: np.ndarray, p: np.ndarray, low: int) -> np.ndarray:
    """Categories with the sample's proportions as close to ``p`` as n allows, ordered by ``latent``.

    Cutting the latent variable at its own sample quantiles (not at the population thresholds)
    removes the sampling error of the marginal distribution while keeping who answers higher.
    """
    quantile = (stats.rankdata(latent, method="ordinal") - 0.5) / len(latent)
    return np.searchsorted(np.cumsum(p)[:-1], quantile).astype(np.int64) + low


def _remove_straight_liners(p: np.ndarray, share: float) -> np.ndarray:
    """The distribution the other respondents need so that the mixture with all-1 answers is ``p``."""
    rest = p.copy()
    rest[0] = max(p[0] - share, 1e-6)
    return rest / rest.sum()


def _wvs_country(country: _WvsCountry, reference: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n, k = country.n, len(WVS7_ITEMS)
    prefix = country.alpha3.lower()
    # Two correlated person factors (r = .5); loadings .75, the death penalty .30.
    factors = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.5], [0.5, 1.0]], size=n)
    loadings = np.array([0.30 if i == "Q195" else 0.75 for i in WVS7_ITEMS])
    which = np.array([1 if i in _PERSONAL else 0 for i in WVS7_ITEMS])
    common = factors[:, which] * loadings
    latent = common + rng.standard_normal((n, k)) * np.sqrt(1 - loadings**2)

    straight = np.zeros(n, dtype=bool)
    straight[rng.choice(n, size=round(country.straight_liners * n), replace=False)] = True
    answers = np.ones((n, k), dtype=np.int64)
    for j, item in enumerate(WVS7_ITEMS):
        row = reference.loc[item]
        p = maxent_distribution(row[f"{prefix}_mean"], row[f"{prefix}_sd"], 1, 10)
        rest = _remove_straight_liners(p, straight.mean())
        answers[~straight, j] = _ordinal_by_rank(latent[~straight, j], rest, 1)

    # Missing codes in as many respondents as the release has incomplete rows (never straight-liners).
    candidates = np.flatnonzero(~straight)
    incomplete = rng.choice(candidates, size=country.incomplete, replace=False)
    codes = np.array([-1, -2, -4, -5])
    for index, person in enumerate(incomplete):
        if index < 3:  # a few refused the whole battery
            answers[person] = -2
            continue
        items = rng.choice(k, size=int(rng.integers(1, 4)), replace=False)
        answers[person, items] = rng.choice(codes, size=len(items), p=[0.70, 0.25, 0.03, 0.02])

    weight = rng.lognormal(0.0, 0.35, size=n)
    weight = np.round(weight / weight.mean(), 6)
    frame = pd.DataFrame(
        {
            "version": "SYNTHETIC 1.0",
            "A_WAVE": 7.0,
            "A_YEAR": float(country.year),
            "B_COUNTRY": float(country.numeric),
            "B_COUNTRY_ALPHA": country.alpha3,
            "C_COW_NUM": float(country.cow),
            "D_INTERVIEW": country.numeric * 1_000_000 + 70_000 + np.arange(1, n + 1, dtype=float),
            "W_WEIGHT": weight,
            "S018": np.round(weight * 1000 / n, 6),
        }
    )
    items = pd.DataFrame(answers.astype(float), columns=list(WVS7_ITEMS))
    sex = rng.integers(1, 3, size=n).astype(float)
    age = rng.integers(18, 90, size=n).astype(float)
    return pd.concat([frame, items, pd.DataFrame({"Q260": sex, "Q262": age})], axis=1)


def wvs7_synthetic_frame(
    seed: int = DEFAULT_SEED, *, countries: Sequence[str] | None = None, n: int | None = None
) -> pd.DataFrame:
    """SYNTHETIC WVS-7 respondents (China, then the USA) in the release's variable layout.

    ``countries`` (any ISO 3166 codes, in order) and ``n`` (respondents per country) write k
    countries instead: each country's answers follow its profile (:func:`valuesurvey.humans.
    profiles.wvs7_profile`: the shipped China/USA aggregates, a labelled SYNTHETIC profile for any
    other country), drawn from a generator seeded by ``seed`` and the country, so a country's rows
    do not depend on which other countries are written. Without them the paper's file is written,
    byte-identical to the shipped one.
    """
    if countries is None and n is None:
        rng = np.random.default_rng(seed)
        reference = _reference("wvs7_q177_q195_chn_usa_means.csv").set_index("item")
        return pd.concat([_wvs_country(c, reference, rng) for c in _WVS_COUNTRIES], ignore_index=True)
    frames = []
    for code in countries or ("CN", "US"):
        country = _wvs_entry(code, n)
        reference = _profile_reference("wvs7", code, country.alpha3.lower())
        rng = np.random.default_rng([seed, country.numeric])
        frames.append(_wvs_country(country, reference, rng))
    return pd.concat(frames, ignore_index=True)


def _wvs_entry(code: str, n: int | None) -> _WvsCountry:
    """The release facts of a country (China and the USA: the real ones) with ``n`` respondents."""
    from valuesurvey.countries import get_country

    country = get_country(code)
    known = {c.alpha3: c for c in _WVS_COUNTRIES}.get(country.alpha3)
    if known is None:
        size = n or 1000
        return _WvsCountry(country.alpha3, int(country.numeric), 0, 2018, size, round(0.04 * size), 0.012)
    if n is None:
        return known
    return replace(known, n=n, incomplete=round(n * known.incomplete / known.n))


def _profile_reference(instrument: str, code: str, prefix: str) -> pd.DataFrame:
    """A country's profile as the reference file's columns ``<prefix>_mean``, ``<prefix>_sd``."""
    from valuesurvey.humans.profiles import profile

    frame = profile(instrument, code)
    return pd.DataFrame({f"{prefix}_mean": frame["mean"], f"{prefix}_sd": frame["sd"]})


def _wvs_metadata() -> dict[str, dict]:
    labels = {
        "version": "Version of data file (SYNTHETIC)",
        "A_WAVE": "Wave",
        "A_YEAR": "Year of survey",
        "B_COUNTRY": "ISO 3166-1 numeric country code",
        "B_COUNTRY_ALPHA": "ISO 3166-1 alpha-3 country code",
        "C_COW_NUM": "CoW country code numeric",
        "D_INTERVIEW": "Interview ID",
        "W_WEIGHT": "Weight",
        "S018": "Equilibrated weight-1000",
        "Q260": "Sex",
        "Q262": "Age",
    }
    labels.update({item: f"Justifiable: {text}" for item, text in _WVS_LABELS.items()})
    item_values = {1.0: "Never justifiable", 10.0: "Always justifiable", **_WVS_MISSING_LABELS}
    value_labels: dict[str, dict] = {item: item_values for item in WVS7_ITEMS}
    value_labels["B_COUNTRY"] = {156.0: "China", 840.0: "United States"}
    value_labels["Q260"] = {1.0: "Male", 2.0: "Female", **_WVS_MISSING_LABELS}
    return {"column_labels": labels, "value_labels": value_labels}


# --- MFQ-2 ---------------------------------------------------------------------------------------

_FOUNDATION_CORRELATION = np.array(
    [  # Care, Equality, Proportionality, Loyalty, Authority, Purity
        [1.00, 0.30, 0.30, 0.30, 0.20, 0.20],
        [0.30, 1.00, -0.10, 0.00, -0.10, 0.00],
        [0.30, -0.10, 1.00, 0.30, 0.30, 0.20],
        [0.30, 0.00, 0.30, 1.00, 0.65, 0.50],
        [0.20, -0.10, 0.30, 0.65, 1.00, 0.60],
        [0.20, 0.00, 0.20, 0.50, 0.60, 1.00],
    ]
)
_MFQ_COUNTRIES = (("China", "cn", 517), ("United States", "us", 515))
_STUDY2_FOUNDATION_PREFIX = {
    "care": "Care",
    "equal": "Equality",
    "prop": "Proportionality",
    "loyalty": "Loyalty",
    "authority": "Authority",
    "purity": "Purity",
}


def _study2_item_columns() -> dict[str, str]:
    """All 50 Study-2 item columns -> foundation, the final 36 first (published order)."""
    final = {column: MFQ2_FOUNDATIONS[i % 6] for i, column in enumerate(STUDY2_COLUMNS)}
    return {**final, **MFQ2_DROPPED_COLUMNS}


def mfq2_synthetic_frame(
    seed: int = DEFAULT_SEED, *, countries: Sequence[str] | None = None, n: int | None = None
) -> pd.DataFrame:
    """SYNTHETIC MFQ-2 respondents (517 China, 515 USA) in the OSF Study-2 CSV layout.

    ``countries`` and ``n`` (respondents per country) write k countries instead, each from its
    profile (:func:`valuesurvey.humans.profiles.mfq2_profile`), named by its CLDR English name in
    the ``country`` column; without them the paper's file is written, byte-identical.
    """
    rng = np.random.default_rng(seed + 2)
    columns = _study2_item_columns()
    offsets = rng.uniform(-0.15, 0.15, size=len(columns))  # items of a foundation differ a little
    if countries is None and n is None:
        profiles = _reference("mfq2_foundation_profiles.csv").set_index("foundation")
        chosen = _MFQ_COUNTRIES
    else:
        from valuesurvey.countries import get_country

        found = [get_country(code) for code in countries or ("CN", "US")]
        profiles = pd.concat([_profile_reference("mfq2", c.alpha2, c.alpha2.lower()) for c in found], axis=1)
        known = {prefix: size for _, prefix, size in _MFQ_COUNTRIES}
        chosen = tuple((c.name("en"), c.alpha2.lower(), n or known.get(c.alpha2.lower(), 500)) for c in found)
    loading = 0.7
    frames = []
    for country, prefix, n in chosen:
        factors = rng.multivariate_normal(np.zeros(6), _FOUNDATION_CORRELATION, size=n)
        data: dict[str, np.ndarray] = {}
        for j, (column, foundation) in enumerate(columns.items()):
            f = MFQ2_FOUNDATIONS.index(foundation)
            latent = loading * factors[:, f] + np.sqrt(1 - loading**2) * rng.standard_normal(n)
            mean = float(np.clip(profiles.loc[foundation, f"{prefix}_mean"] + offsets[j], 1.3, 4.7))
            p = maxent_distribution(mean, float(profiles.loc[foundation, f"{prefix}_sd"]), 1, 5)
            data[column] = _ordinal_by_rank(latent, p, 1)
        meta = {
            "age": rng.integers(18, 80, size=n),
            "gender": rng.integers(1, 3, size=n),
            "porient_1": rng.integers(1, 11, size=n),
            "country": np.full(n, country, dtype=object),
            "attention1": np.full(n, 3),
            "attention2": np.full(n, 5),
            "attention3": np.full(n, 2),
            "first_language": np.full(n, _first_language(prefix), dtype=object),
            "religion": rng.integers(1, 8, size=n),
            "religiosity_1": rng.integers(1, 11, size=n),
            "education": rng.integers(1, 7, size=n),
            "status": rng.integers(1, 11, size=n),
        }
        frames.append(pd.DataFrame({**data, **meta}))
    # A CSV has no file label: this column carries it (read as the file's label by the loader).
    return pd.concat(frames, ignore_index=True).assign(data_label=MFQ_LABEL)


def _first_language(prefix: str) -> str:
    """The English name of a country's first official language (Chinese for China, as shipped)."""
    from valuesurvey.countries import language_name
    from valuesurvey.design import base_language, default_survey_languages

    return language_name(base_language(default_survey_languages(prefix.upper())[0]), "en")


def _mfq_names_variant(study2: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The same respondents with ``MFQ_1``...``MFQ_36`` names, a numeric country and a few -99 codes."""
    rng = np.random.default_rng(seed + 3)
    items = study2[list(STUDY2_COLUMNS)].to_numpy(dtype=float, copy=True)
    holes = rng.random(items.shape) < 0.002
    items[holes] = -99.0
    frame = pd.DataFrame(items, columns=[f"MFQ_{i}" for i in range(1, 37)])
    frame.insert(0, "nation", np.where(study2["country"] == "China", 1.0, 2.0))
    frame.insert(0, "respondent_id", 5000.0 + np.arange(1, len(study2) + 1))
    return frame


def _mapping_yaml() -> str:
    lines = [
        "# SYNTHETIC: column mapping of SYNTHETIC_mfq2_MFQ_names.sav (simulated respondents, NOT MFQ-2 data).",
        "# Use the same format for any MFQ-2 file: valuesurvey humans load FILE --instrument mfq2 --mapping THIS",
        "instrument: mfq2",
        "country_column: nation",
        "countries:",
        "  1: CHN",
        "  2: USA",
        "id_column: respondent_id",
        "weight_column: null",
        "missing_codes: [-99]",
        "items:",
    ]
    lines += [f"  MFQ_{i}: {item}" for i, item in enumerate(MFQ2_ITEMS, start=1)]
    return "\n".join(lines) + "\n"


# --- writing ---------------------------------------------------------------------------------------


def write_synthetic_files(out_dir: str | Path, *, seed: int = DEFAULT_SEED) -> dict[str, Path]:
    """Write the SYNTHETIC human data files (each atomically) and return their paths.

    Parameters
    ----------
    out_dir : str or Path
        Directory to write into (created if needed).
    seed : int
        Seed of the generator; the default reproduces the files shipped in ``data/synthetic/``.

    Returns
    -------
    dict of str to Path
        Keys ``wvs7_sav``, ``wvs7_dta``, ``mfq2_csv``, ``mfq2_sav``, ``mfq2_mapping``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {key: out / name for key, name in SYNTHETIC_FILES.items()}

    wvs = wvs7_synthetic_frame(seed)
    meta = _wvs_metadata()
    labels = [meta["column_labels"].get(column) for column in wvs.columns]
    with _io.atomic_path(paths["wvs7_sav"]) as tmp:
        pyreadstat.write_sav(
            wvs,
            tmp,
            file_label=WVS_LABEL,
            column_labels=labels,
            variable_value_labels=meta["value_labels"],
            missing_ranges={item: [{"lo": -5.0, "hi": -1.0}] for item in (*WVS7_ITEMS, "Q260", "Q262")},
            note="SYNTHETIC data generated by valuesurvey.humans.synthetic; not WVS data.",
        )
    dta = wvs.copy()
    integer_columns = [c for c in dta.columns if c not in ("version", "B_COUNTRY_ALPHA", "W_WEIGHT", "S018")]
    dta[integer_columns] = dta[integer_columns].astype(np.int64)
    with _io.atomic_path(paths["wvs7_dta"]) as tmp:
        pyreadstat.write_dta(
            dta,
            tmp,
            file_label=WVS_LABEL[:80],
            column_labels=labels,
            variable_value_labels={
                c: {int(k): v for k, v in lab.items()} for c, lab in meta["value_labels"].items()
            },
        )

    study2 = mfq2_synthetic_frame(seed)
    with _io.atomic_path(paths["mfq2_csv"]) as tmp:
        study2.to_csv(tmp, index=False, lineterminator="\n")
    variant = _mfq_names_variant(study2, seed)
    with _io.atomic_path(paths["mfq2_sav"]) as tmp:
        pyreadstat.write_sav(
            variant,
            tmp,
            file_label=MFQ_LABEL,
            column_labels={f"MFQ_{i}": f"MFQ-2 item {i}" for i in range(1, 37)},
            variable_value_labels={
                "nation": {1.0: "China", 2.0: "United States"},
                **{f"MFQ_{i}": {-99.0: "No answer"} for i in range(1, 37)},
            },
            missing_ranges={f"MFQ_{i}": [-99.0] for i in range(1, 37)},
        )
    _io.write_text(paths["mfq2_mapping"], _mapping_yaml())
    return paths


def write_country_files(
    out_dir: str | Path, countries: Sequence[str], *, n: int = 200, seed: int = DEFAULT_SEED
) -> dict[str, Path]:
    """Write SYNTHETIC WVS-7 and MFQ-2 files of k countries (CSV, each atomically).

    Each country has ``n`` respondents drawn from its profile (:mod:`valuesurvey.humans.profiles`;
    countries without shipped aggregates get a made-up, labelled SYNTHETIC profile). The files
    carry their label in a column (``version`` / ``data_label``), so they load as synthetic.

    Returns
    -------
    dict of str to Path
        ``wvs7`` (``SYNTHETIC_wvs7_<codes>.csv``, the release's variable layout) and ``mfq2``
        (``SYNTHETIC_mfq2_<codes>.csv``, the OSF Study-2 layout).
    """
    from valuesurvey.countries import get_country

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    codes = [get_country(code).alpha2 for code in countries]
    tag = "_".join(code.lower() for code in codes)
    paths = {"wvs7": out / f"SYNTHETIC_wvs7_{tag}.csv", "mfq2": out / f"SYNTHETIC_mfq2_{tag}.csv"}
    wvs = wvs7_synthetic_frame(seed, countries=codes, n=n)
    with _io.atomic_path(paths["wvs7"]) as tmp:
        wvs.to_csv(tmp, index=False, lineterminator="\n")
    mfq = mfq2_synthetic_frame(seed, countries=codes, n=n)
    with _io.atomic_path(paths["mfq2"]) as tmp:
        mfq.to_csv(tmp, index=False, lineterminator="\n")
    return paths


def shipped_files() -> dict[str, Path]:
    """Paths of the SYNTHETIC files: ``data/synthetic/`` of a source checkout, else generated once.

    An installed package has no ``data/`` folder; the files are then generated into a directory
    under the system's temporary directory and reused.
    """
    if all((SHIPPED_DIR / name).is_file() for name in SYNTHETIC_FILES.values()):
        return {key: SHIPPED_DIR / name for key, name in SYNTHETIC_FILES.items()}
    cache = Path(tempfile.gettempdir()) / f"valuesurvey-synthetic-{DEFAULT_SEED}"
    if all((cache / name).is_file() for name in SYNTHETIC_FILES.values()):
        return {key: cache / name for key, name in SYNTHETIC_FILES.items()}
    return write_synthetic_files(cache)


#: The 64 countries of the WVS-7 release-size SYNTHETIC file (alpha-3) with sample sizes of the
#: release's order (NOT its values: rounded guesses, scaled to the file's row count). Two are made
#: deliberately small, below the country-level analysis's default min_n of 100.
RELEASE_COUNTRIES = {
    "AND": 60, "ARG": 1000, "ARM": 1200, "AUS": 1800, "BGD": 1200, "BOL": 2000, "BRA": 1750,
    "CAN": 4000, "CHL": 1000, "CHN": 3036, "COL": 1500, "CYP": 1000, "DEU": 1500, "ECU": 1200,
    "EGY": 1200, "ETH": 1230, "GBR": 2600, "GRC": 1200, "GTM": 1200, "HKG": 2075, "IDN": 3200,
    "IRN": 1500, "IRQ": 1200, "JOR": 1200, "JPN": 1350, "KAZ": 1275, "KEN": 1265, "KGZ": 1200,
    "KOR": 1245, "LBN": 1200, "LBY": 1200, "MAC": 1025, "MAR": 1200, "MDV": 90, "MEX": 1740,
    "MMR": 1200, "MNG": 1640, "MYS": 1310, "NGA": 1240, "NIC": 1200, "NIR": 450, "NLD": 2150,
    "NZL": 1060, "PAK": 2000, "PER": 1400, "PHL": 1200, "PRI": 1130, "ROU": 1260, "RUS": 1810,
    "SGP": 2010, "SRB": 1050, "SVK": 1200, "THA": 1500, "TJK": 1200, "TUN": 1210, "TUR": 2415,
    "TWN": 1225, "UKR": 1290, "URY": 1000, "USA": 2596, "UZB": 1250, "VEN": 1190, "VNM": 1200,
    "ZWE": 1215,
}  # fmt: skip
#: Items coded -4 ("not asked in survey") for every respondent of a country in that file
#: (the generator's choice, not the release's pattern).
RELEASE_NOT_ASKED = {"JOR": ("Q182", "Q183"), "EGY": ("Q182",), "IRN": ("Q193",), "TJK": ("Q192",)}
RELEASE_LABEL = (
    "SYNTHETIC WVS-7 release-size file: 64 countries with simulated profiles (China and the USA "
    "calibrated to published means, the others invented), NOT WVS data"
)


def _release_sizes(n_rows: int) -> dict[str, int]:
    """Country sizes summing to ``n_rows``: the deliberately small ones kept, the others scaled."""
    small = {c: n for c, n in RELEASE_COUNTRIES.items() if n < 100}
    large = {c: n for c, n in RELEASE_COUNTRIES.items() if n >= 100}
    target = n_rows - sum(small.values())
    if target < 100 * len(large):
        raise ValueError(f"n_rows = {n_rows} is too few for {len(RELEASE_COUNTRIES)} countries")
    above = {c: n - 100 for c, n in large.items()}  # every large country keeps at least 100
    extra = target - 100 * len(large)
    scaled = {c: 100 + int(a * extra / sum(above.values())) for c, a in above.items()}
    scaled[max(scaled, key=scaled.get)] += target - sum(scaled.values())  # the rounding remainder
    return {c: small.get(c, scaled.get(c)) for c in RELEASE_COUNTRIES}


def _release_profiles(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Item means and SDs per country: China and the USA from the reference aggregates; every other
    country at a random position on the USA-China axis plus a country-specific second axis."""
    reference = _reference("wvs7_q177_q195_chn_usa_means.csv").set_index("item").loc[list(WVS7_ITEMS)]
    us_mean, cn_mean = reference["usa_mean"].to_numpy(), reference["chn_mean"].to_numpy()
    us_sd, cn_sd = reference["usa_sd"].to_numpy(), reference["chn_sd"].to_numpy()
    second = rng.normal(0.0, 1.0, len(WVS7_ITEMS))
    profiles = {"USA": (us_mean, us_sd), "CHN": (cn_mean, cn_sd)}
    for code in RELEASE_COUNTRIES:
        if code in profiles:
            continue
        t, b = rng.uniform(-0.3, 1.3), rng.normal(0.0, 0.6)
        mean = np.clip(us_mean + t * (cn_mean - us_mean) + b * second, 1.3, 9.2)
        sd = np.clip(us_sd + np.clip(t, 0, 1) * (cn_sd - us_sd) + rng.normal(0, 0.15, len(mean)), 0.9, None)
        profiles[code] = (mean, np.minimum(sd, 0.9 * np.sqrt((mean - 1.0) * (10.0 - mean))))
    return profiles


@functools.lru_cache(maxsize=4096)
def _release_distribution(mean: float, sd: float) -> np.ndarray:
    """:func:`maxent_distribution` on 1-10, remembered: the same seed asks for the same profiles."""
    return maxent_distribution(mean, sd, 1, 10)


def _release_country(
    code: str, n: int, mean: np.ndarray, sd: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """One country's SYNTHETIC respondents: two correlated person factors, answers cut at each
    item's max-entropy quantiles, 1% straight-liners, missing codes, items not asked (-4)."""
    from valuesurvey.countries import get_country

    k = len(WVS7_ITEMS)
    factors = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.5], [0.5, 1.0]], size=n)
    loadings = np.where(np.asarray(WVS7_ITEMS) == "Q195", 0.30, 0.75)
    personal = np.isin(WVS7_ITEMS, sorted(_PERSONAL)).astype(int)
    latent = factors[:, personal] * loadings + rng.standard_normal((n, k)) * np.sqrt(1 - loadings**2)
    straight = rng.random(n) < 0.01
    answers = np.ones((n, k))
    for j in range(k):
        p = _remove_straight_liners(_release_distribution(float(mean[j]), float(sd[j])), straight.mean())
        answers[~straight, j] = _ordinal_by_rank(latent[~straight, j], p, 1)
    holes = (rng.random((n, k)) < 0.003) & ~straight[:, None]
    answers[holes] = rng.choice([-1.0, -2.0, -5.0], size=int(holes.sum()), p=[0.7, 0.25, 0.05])
    for item in RELEASE_NOT_ASKED.get(code, ()):
        answers[:, WVS7_ITEMS.index(item)] = -4.0
    country = get_country(code)
    weight = rng.lognormal(0.0, 0.35, size=n)
    weight = np.round(weight / weight.mean(), 6)
    frame = pd.DataFrame(
        {
            "version": "SYNTHETIC 1.0",
            "A_WAVE": 7.0,
            "A_YEAR": float(rng.integers(2017, 2023)),
            "B_COUNTRY": float(country.numeric),
            "B_COUNTRY_ALPHA": code,
            "D_INTERVIEW": country.numeric * 1_000_000 + 70_000 + np.arange(1, n + 1, dtype=float),
            "W_WEIGHT": weight,
            "S018": np.round(weight * 1000 / n, 6),
        }
    )
    return pd.concat([frame, pd.DataFrame(answers, columns=list(WVS7_ITEMS))], axis=1)


def release_size_frame(n_rows: int = 97_000, *, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """SYNTHETIC respondents of 64 countries in the release's layout (see :func:`write_release_size_sav`).

    >>> frame = release_size_frame(7_000)
    >>> len(frame), frame["B_COUNTRY_ALPHA"].nunique(), int((frame["Q182"] == -4).sum()) > 0
    (7000, 64, True)
    """
    rng = np.random.default_rng(seed + 17)
    profiles = _release_profiles(rng)
    sizes = _release_sizes(n_rows)
    parts = [_release_country(code, sizes[code], *profiles[code], rng) for code in RELEASE_COUNTRIES]
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values("B_COUNTRY", kind="stable").reset_index(drop=True)


def write_release_size_sav(
    path: str | Path, *, n_rows: int = 97_000, n_columns: int = 600, seed: int = DEFAULT_SEED
) -> Path:
    """A SYNTHETIC .sav with the size and shape of the full WVS-7 release, for tests and benchmarks.

    64 countries (:data:`RELEASE_COUNTRIES`; two of them smaller than 100 respondents), each with
    its own simulated item profile: China and the USA calibrated to the published means and SDs
    (as the shipped files), the other 62 placed at random on the USA-China axis plus a second,
    country-specific axis (invented, not those countries' real values). Items of
    :data:`RELEASE_NOT_ASKED` are coded -4 ("not asked in survey") for every respondent of the
    country; 0.3% of answers (about 5% of respondents) carry the codes -1, -2 and -5. Filler variables (``X001``...)
    bring the column count up to ``n_columns``. The file label, the ``version`` column and a note
    say SYNTHETIC.
    """
    rng = np.random.default_rng(seed + 7)
    frame = release_size_frame(n_rows, seed=seed)
    fillers = max(n_columns - frame.shape[1], 0)
    filler = pd.DataFrame(
        rng.integers(-5, 11, size=(len(frame), fillers)).astype(float),
        columns=[f"X{i:03d}" for i in range(1, fillers + 1)],
    )
    frame = pd.concat([frame.iloc[:, :8], filler, frame.iloc[:, 8:]], axis=1)
    meta = _wvs_metadata()
    from valuesurvey.countries import get_country

    countries = {float(get_country(c).numeric): get_country(c).english_name for c in RELEASE_COUNTRIES}
    value_labels = {**{c: v for c, v in meta["value_labels"].items() if c in frame.columns}}
    value_labels["B_COUNTRY"] = countries
    with _io.atomic_path(path) as tmp:
        pyreadstat.write_sav(
            frame,
            tmp,
            file_label=RELEASE_LABEL,
            column_labels=[meta["column_labels"].get(column) for column in frame.columns],
            variable_value_labels=value_labels,
            missing_ranges={item: [{"lo": -5.0, "hi": -1.0}] for item in WVS7_ITEMS},
            note="SYNTHETIC data generated by valuesurvey.humans.synthetic; not WVS data.",
        )
    return Path(path)
