# Value-ranking study (seed 000): origin groups (CN vs US for the paper) in a mixed model of mean ranks.
#
#   vs_ranking_fit(formula, data, control = vs_fit_control(), origins = "CN;US")
#
# fits `formula` (e.g. mean_rank ~ origin * dimension + (1 | model:dimension) + (1 | value)) once
# with lmerTest and returns
#   list(tidy = <fixed effects>, random = <variance components (SDs)>,
#        anova = <type III F tests, one row per fixed term>,
#        contrasts = <every pair of origins per dimension from emmeans ("CN - US | Social")>,
#        facts = <one row: optimizer, conv_code, converged, singular, messages>).
# conv_code is the optimizer's own return code (fit@optinfo$conv$opt; 0 = success); converged is
# FALSE when that code is not 0 or lme4's convergence checks raised anything other than the
# singular-fit (boundary) message. Warnings and messages are data, never printed. The
# simplification sequence that decides which fit is reported lives in valuesurvey/ranking/_mixed.py.
# Plain functions; sourcing this file has no side effects. Needs fit.R (vs_fit_control,
# vs_parse_formula, vs_collect, vs_tidy_table).
# `origins` lists the origin levels in order, ";"-joined. Two levels: the paper's half-sum coding
# (first = +0.5, second = -0.5; term "origin<first>"). More: contr.sum with the last level the
# reference (-1 in every column; terms "origin<level>" for the others). dimension: contr.sum.
# With Rscript: source("R/fit.R"); source("R/ranking.R"); vs_ranking_fit(...)

vs_ranking_prepare <- function(data, origins = "CN;US") {
  needed <- c("origin", "dimension")
  missing <- setdiff(needed, names(data))
  if (length(missing)) {
    stop(sprintf("ranking data lack column(s): %s", paste(missing, collapse = ", ")), call. = FALSE)
  }
  levels <- strsplit(origins, ";", fixed = TRUE)[[1]]
  origin <- factor(as.character(data$origin), levels = levels)
  if (anyNA(origin)) {
    stop(sprintf("origin must be one of %s", paste(levels, collapse = ", ")), call. = FALSE)
  }
  if (length(unique(origin)) != length(levels) || length(levels) < 2) {
    stop(sprintf("every origin level (%s) needs models, at least two levels", paste(levels, collapse = ", ")),
         call. = FALSE)
  }
  if (length(levels) == 2) {
    stats::contrasts(origin) <- matrix(c(0.5, -0.5), ncol = 1, dimnames = list(levels, levels[1]))
  } else {
    stats::contrasts(origin) <- stats::contr.sum(length(levels))
    colnames(stats::contrasts(origin)) <- levels[-length(levels)]
  }
  dimension <- factor(as.character(data$dimension))
  stats::contrasts(dimension) <- stats::contr.sum(nlevels(dimension))
  colnames(stats::contrasts(dimension)) <- levels(dimension)[-nlevels(dimension)]
  data$origin <- origin
  data$dimension <- dimension
  data
}

vs_ranking_anova <- function(fit, ddf) {
  a <- as.data.frame(stats::anova(fit, type = 3, ddf = ddf))
  data.frame(term = rownames(a), num_df = a[["NumDF"]], den_df = a[["DenDF"]],
             statistic = a[["F value"]], p_value = a[["Pr(>F)"]], stringsAsFactors = FALSE,
             row.names = NULL)
}

vs_ranking_contrasts <- function(fit, ddf, conf_level) {
  mode <- if (ddf == "Kenward-Roger") "kenward-roger" else "satterthwaite"
  emm <- emmeans::emmeans(fit, ~ origin | dimension, lmer.df = mode)
  s <- as.data.frame(summary(graphics::pairs(emm), infer = c(TRUE, TRUE), level = conf_level,
                             adjust = "none"))
  data.frame(term = paste0(s$contrast, " | ", s$dimension), dimension = as.character(s$dimension),
             estimate = s$estimate, std_error = s$SE, df = s$df, statistic = s$t.ratio,
             p_value = s$p.value, conf_low = s$lower.CL, conf_high = s$upper.CL,
             stringsAsFactors = FALSE, row.names = NULL)
}

vs_ranking_random <- function(fit) {
  vc <- as.data.frame(lme4::VarCorr(fit))
  term <- ifelse(is.na(vc$var2), paste0("sd__", vc$var1), paste0("cor__", vc$var1, ".", vc$var2))
  term[vc$grp == "Residual"] <- "sd__Observation"
  data.frame(group = vc$grp, term = term, estimate = vc$sdcor, stringsAsFactors = FALSE)
}

vs_ranking_facts <- function(fit, notes, optimizer) {
  code <- fit@optinfo$conv$opt
  code <- if (is.null(code) || !length(code)) NA_integer_ else as.integer(code)
  checks <- c(fit@optinfo$conv$lme4$messages, fit@optinfo$warnings)
  notes <- unique(c(notes, unlist(checks)))
  singular <- lme4::isSingular(fit)
  if (singular && !any(grepl("singular", notes))) notes <- c(notes, "boundary (singular) fit")
  if (!is.na(code) && code != 0) notes <- unique(c(notes, sprintf("optimizer (%s) code %d", optimizer, code)))
  trouble <- notes[!grepl("singular|boundary", notes)]
  converged <- !is.na(code) && code == 0 && !any(grepl("converge|unidentifiable|gradient|Hessian",
                                                        trouble, ignore.case = TRUE))
  data.frame(optimizer = optimizer, conv_code = code, converged = converged, singular = singular,
             messages = paste(notes, collapse = " | "), stringsAsFactors = FALSE)
}

vs_ranking_fit <- function(formula, data, control = vs_fit_control(), origins = "CN;US") {
  formula <- vs_parse_formula(formula)
  data <- vs_ranking_prepare(data, origins)
  lctrl <- lme4::lmerControl(optimizer = control$optimizer, calc.derivs = control$calc_derivs)
  run <- vs_collect(lmerTest::lmer(formula, data = data, REML = TRUE, control = lctrl))
  fit <- run$value
  if (!inherits(fit, "lmerModLmerTest")) {
    stop("lmerTest could not compute the degrees of freedom: ", paste(run$notes, collapse = " | "),
         call. = FALSE)
  }
  ddf <- if (control$ddf == "Kenward-Roger") "Kenward-Roger" else "Satterthwaite"
  sm <- vs_collect(summary(fit, ddf = ddf))
  co <- sm$value$coefficients
  tidy <- vs_tidy_table(rownames(co), co[, "Estimate"], co[, "Std. Error"], co[, "df"], co[, "t value"],
                        co[, "Pr(>|t|)"], control$conf_level)
  tests <- vs_collect(list(anova = vs_ranking_anova(fit, ddf),
                           contrasts = vs_ranking_contrasts(fit, ddf, control$conf_level)))
  list(tidy = tidy, random = vs_ranking_random(fit), anova = tests$value$anova,
       contrasts = tests$value$contrasts,
       facts = vs_ranking_facts(fit, c(run$notes, sm$notes, tests$notes), control$optimizer))
}
