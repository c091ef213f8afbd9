"""The exact complete-crossing REML (R/crossed.R) equals lme4::lmer + lmerTest fitted by Rscript."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lmer_agreement import assert_fits_agree

pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parents[2]

# Plain lme4/lmerTest, nothing of ours: half-sum codes as numbers, factors with the same contrasts.
DIRECT_R = r"""
suppressPackageStartupMessages(library(lmerTest))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
half <- function(x, level) { f <- factor(x); contrasts(f) <- matrix(ifelse(levels(f) == level, .5, -.5), ncol = 1,
  dimnames = list(levels(f), level)); f }
d$nationalityCN <- ifelse(d$nationality == "CN", .5, -.5); d$originCN <- ifelse(d$origin == "CN", .5, -.5)
d$nationality <- half(d$nationality, "CN"); d$origin <- half(d$origin, "CN")
if ("removed" %in% names(d) && length(unique(d$removed)) > 1) {
  d$removed <- factor(d$removed, levels = c("none", setdiff(unique(d$removed), "none")))
}
fit <- lmer(as.formula(args[2]), data = d, REML = TRUE, control = lmerControl(optimizer = "bobyqa"))
co <- summary(fit, ddf = "Satterthwaite")$coefficients
tidy <- data.frame(term = rownames(co), estimate = co[, 1], std_error = co[, 2], df = co[, "df"],
                   p_value = co[, 5])
vc <- as.data.frame(VarCorr(fit))
random <- data.frame(group = vc$grp, estimate = vc$sdcor)
glance <- data.frame(logLik = as.numeric(logLik(fit)), AIC = AIC(fit), singular = isSingular(fit))
write.csv(tidy, paste0(args[3], "_tidy.csv"), row.names = FALSE)
write.csv(random, paste0(args[3], "_random.csv"), row.names = FALSE)
write.csv(glance, paste0(args[3], "_glance.csv"), row.names = FALSE)
"""

OURS_R = """
function(data, formula, columns) {
  data <- as.data.frame(data)
  data$nationalityCN <- ifelse(data$nationality == "CN", .5, -.5)
  data$originCN <- ifelse(data$origin == "CN", .5, -.5)
  coding <- vs_coding(c("nationality", "origin"), c("half_sum", "half_sum"), c("CN", "CN"))
  if ("removed" %in% names(data) && length(unique(data$removed)) > 1) {
    data$removed <- factor(data$removed, levels = c("none", setdiff(unique(data$removed), "none")))
  }
  coded <- vs_apply_coding(data, coding)$data
  out <- vs_crossed_fit(formula, coded, vs_crossed_spec(columns = columns))
  if (inherits(out, "vs_crossed_skip")) return(list(skipped = attr(out, "reason")))
  list(tidy = out$tidy, random = out$random, glance = out$glance)
}
"""


def _panel(
    seed: int, *, people: int = 36, models: int = 8, removed: tuple[str, ...] = ("none",)
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    nat = np.array(["CN"] * (people // 2 + 3) + ["US"] * (people // 2 - 3))
    org = np.array(["CN"] * (models // 2) + ["US"] * (models // 2))
    s, o = np.where(nat == "CN", 0.5, -0.5), np.where(org == "CN", 0.5, -0.5)
    u0, u1 = rng.normal(0, 0.08, nat.size), rng.normal(0, 0.03, nat.size)
    v0, v1 = rng.normal(0, 0.04, org.size), rng.normal(0, 0.06, org.size)
    pair = rng.normal(0, 0.03, (nat.size, org.size))
    frames = []
    for level in removed:
        y = (
            0.3 - 0.3 * s[:, None] + 0.03 * s[:, None] * o[None, :] + u0[:, None] + u1[:, None] * o[None, :]
            + v0[None, :] + v1[None, :] * s[:, None] + pair + rng.normal(0, 0.1, (nat.size, org.size))
        )  # fmt: skip
        frames.append(
            pd.DataFrame(
                {
                    "participant": np.repeat([f"p{i:03d}" for i in range(nat.size)], org.size),
                    "nationality": np.repeat(nat, org.size),
                    "model": np.tile([f"m{j:02d}" for j in range(org.size)], nat.size),
                    "origin": np.tile(org, nat.size),
                    "removed": level,
                    "cosine": y.ravel(),
                }
            )
        )
    data = pd.concat(frames, ignore_index=True)
    return data.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # row order must not matter


def _direct(tmp_path: Path, data: pd.DataFrame, formula: str) -> dict[str, pd.DataFrame]:
    data.to_csv(tmp_path / "d.csv", index=False, float_format="%.17g")
    (tmp_path / "direct.R").write_text(DIRECT_R)
    subprocess.run(
        ["Rscript", str(tmp_path / "direct.R"), str(tmp_path / "d.csv"), formula, str(tmp_path / "out")],
        check=True,
        capture_output=True,
    )
    return {part: pd.read_csv(tmp_path / f"out_{part}.csv") for part in ("tidy", "random", "glance")}


CASES = {
    "maximal RQ1": ("cosine ~ nationality * origin + (1 + nationalityCN | model) + (1 + originCN | participant)", "model", ("none",)),
    "zero-correlation": ("cosine ~ nationality * origin + (1 + nationalityCN || model) + (1 + originCN || participant)", "model", ("none",)),
    "intercepts": ("cosine ~ nationality * origin + (1 | model) + (1 | participant)", "model", ("none",)),
    "full RQ3 with pair effects": (
        "cosine ~ nationality * origin * removed + (1 | participant:model) + (1 | model) + (1 | participant)",
        ["model", "removed"],
        ("none", "Care", "Purity"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_crossed_engine_equals_lmer(tmp_path: Path, r_session, case: str) -> None:
    formula, columns, removed = CASES[case]
    data = _panel(7, removed=removed)
    ours = r_session.call_code(OURS_R, data, formula, columns)
    assert "skipped" not in ours, ours
    theirs = _direct(tmp_path, data, formula)
    tidy = ours["tidy"][["term", "estimate", "std_error", "df", "p_value"]]
    assert_fits_agree(tidy, theirs["tidy"], name=f"{case} tidy")
    assert list(ours["random"]["group"]) == list(theirs["random"]["group"])
    assert_fits_agree(
        ours["random"][["estimate"]],
        theirs["random"][["estimate"]],
        name=f"{case} random",
        variance=("estimate",),
    )
    np.testing.assert_allclose(ours["glance"]["logLik"], theirs["glance"]["logLik"], rtol=1e-9)
    np.testing.assert_allclose(ours["glance"]["AIC"], theirs["glance"]["AIC"], rtol=1e-9)
    assert bool(ours["glance"]["singular"].iloc[0]) == bool(theirs["glance"]["singular"].iloc[0])


def test_crossed_engine_refuses_incomplete_crossings(r_session) -> None:
    data = _panel(3).iloc[1:]  # one person x model pair missing
    ours = r_session.call_code(OURS_R, data, CASES["intercepts"][0], "model")
    assert ours == {"skipped": "not every person has every condition"}
