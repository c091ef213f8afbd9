# Country level (issue 17): does an LLM's similarity to a country's people fall with that country's
# cultural distance from a reference country?
#
#   vs_country_association(data, control = vs_country_control())
#
# `data` has one row per model x country for one LLM condition: model, country, similarity (the
# country's mean cosine to the model), distance (the country's cultural distance from the
# reference; 0 for the reference itself). Returns
#   list(tidy  = <one row per estimate: metric, model ("all" = every model), term, estimate,
#                 std_error, df, statistic, p_value, conf_low, conf_high, method>,
#        steps = <the mixed model's simplification, one row per fit tried>,
#        line  = <the mixed model's fitted line with its confidence band on a grid of distances>,
#        glance = <one row: the chosen fit's nobs, groups, sigma, logLik, singular, messages>)
# Estimates:
#   per model      lm(similarity ~ distance) over countries: slope; Pearson r with Fisher's CI
#   all models     the mixed model similarity ~ distance + (1 + distance | model) + (1 | country):
#                  distance is a country-level predictor, so the country intercept makes the
#                  countries (not model x country rows) its replication, and the by-model slope
#                  lets models differ in how fast similarity falls; simplified by a recorded
#                  sequence (uncorrelated slope, no slope, no model term) when the fit is singular
#                  or does not converge with any optimizer;
#                  the two-stage check: the mean of the per-model slopes, t interval over models;
#                  Pearson r over countries of the mean similarity across models.
# Needs fit.R (vs_fit_control, vs_collect, vs_tidy_table) and ranking.R (vs_ranking_facts).
# Plain functions; sourcing this file has no side effects. Rscript entry point at the bottom.

vs_country_formulas <- c(
  maximal = "similarity ~ distance + (1 + distance | model) + (1 | country)",
  uncorrelated = "similarity ~ distance + (1 + distance || model) + (1 | country)",
  intercepts = "similarity ~ distance + (1 | model) + (1 | country)",
  country = "similarity ~ distance + (1 | country)"
)
vs_country_optimizers <- c("bobyqa", "Nelder_Mead")

vs_country_control <- function(conf_level = 0.95, ddf = "Satterthwaite", min_countries = 3L,
                               line_points = 50L, ...) {
  base <- vs_fit_control(ddf = ddf, conf_level = conf_level, ...)
  if (!is.numeric(min_countries) || min_countries < 3) {
    stop("min_countries must be at least 3 (a slope over 2 countries has no error df)", call. = FALSE)
  }
  base$min_countries <- as.integer(min_countries)
  base$line_points <- as.integer(line_points)
  base
}

vs_country_check <- function(data, control) {
  needed <- c("model", "country", "similarity", "distance")
  missing <- setdiff(needed, names(data))
  if (length(missing)) {
    stop(sprintf("country data lack column(s): %s; columns are: %s", paste(missing, collapse = ", "),
                 vs_quote_list(names(data))), call. = FALSE)
  }
  bad <- !is.finite(data$similarity) | !is.finite(data$distance)
  if (any(bad)) {
    stop(sprintf("similarity and distance must be finite numbers; %d row(s) are not (first: model '%s', country '%s')",
                 sum(bad), data$model[which(bad)[1]], data$country[which(bad)[1]]), call. = FALSE)
  }
  data$model <- factor(as.character(data$model))
  data$country <- factor(as.character(data$country))
  if (nlevels(data$country) < control$min_countries) {
    stop(sprintf("the association needs at least %d countries, found %d: %s", control$min_countries,
                 nlevels(data$country), vs_quote_list(levels(data$country))), call. = FALSE)
  }
  data
}

vs_country_row <- function(metric, model, term, estimate, std_error, df, statistic, p_value,
                           conf_low, conf_high, method) {
  data.frame(metric = metric, model = model, term = term, estimate = estimate, std_error = std_error,
             df = df, statistic = statistic, p_value = p_value, conf_low = conf_low,
             conf_high = conf_high, method = method, stringsAsFactors = FALSE, row.names = NULL)
}

# lm(similarity ~ distance) and Pearson r (Fisher's interval) of one model's countries.
vs_country_per_model <- function(data, control) {
  rows <- list()
  for (m in levels(data$model)) {
    d <- data[data$model == m, , drop = FALSE]
    if (nrow(d) < control$min_countries || stats::sd(d$distance) == 0) next
    fit <- stats::lm(similarity ~ distance, data = d)
    co <- summary(fit)$coefficients
    slope <- vs_tidy_table("distance", co["distance", 1], co["distance", 2], fit$df.residual,
                           co["distance", 3], co["distance", 4], control$conf_level)
    rows[[length(rows) + 1]] <- vs_country_row("slope", m, "distance", slope$estimate, slope$std_error,
                                               slope$df, slope$statistic, slope$p_value, slope$conf_low,
                                               slope$conf_high, "lm over countries")
    rows[[length(rows) + 1]] <- vs_country_correlation(d$distance, d$similarity, m, control)
  }
  if (length(rows)) do.call(rbind, rows) else NULL
}

vs_country_correlation <- function(x, y, model, control) {
  if (stats::sd(y) == 0) {
    return(vs_country_row("correlation", model, "distance", NA_real_, NA_real_, length(x) - 2,
                          NA_real_, NA_real_, NA_real_, NA_real_, "Pearson r: similarity is constant"))
  }
  ct <- stats::cor.test(x, y, conf.level = control$conf_level)
  ci <- if (is.null(ct$conf.int)) c(NA_real_, NA_real_) else as.numeric(ct$conf.int)
  vs_country_row("correlation", model, "distance", unname(ct$estimate), NA_real_, unname(ct$parameter),
                 unname(ct$statistic), ct$p.value, ci[1], ci[2],
                 if (length(x) > 3) "Pearson r, Fisher z interval" else "Pearson r (no interval with 3 countries)")
}

vs_country_two_stage <- function(per_model, control) {
  slopes <- per_model$estimate[per_model$metric == "slope"]
  if (length(slopes) < 2) return(NULL)
  se <- stats::sd(slopes) / sqrt(length(slopes))
  t <- vs_tidy_table("distance", mean(slopes), se, length(slopes) - 1, mean(slopes) / se,
                     2 * stats::pt(-abs(mean(slopes) / se), length(slopes) - 1), control$conf_level)
  vs_country_row("slope_two_stage", "all", "distance", t$estimate, t$std_error, t$df, t$statistic,
                 t$p_value, t$conf_low, t$conf_high, "mean of the per-model slopes, t over models")
}

vs_country_mean_correlation <- function(data, control) {
  means <- stats::aggregate(similarity ~ country, data = data, FUN = mean)
  dist <- stats::aggregate(distance ~ country, data = data, FUN = mean)
  both <- merge(means, dist, by = "country")
  row <- vs_country_correlation(both$distance, both$similarity, "all", control)
  row$method <- paste0(row$method, "; countries' mean similarity across models")
  row
}

# Fit one formula with each optimizer in turn until one converges; the facts of the last attempt.
vs_country_try <- function(formula, data, control) {
  attempts <- list()
  for (optimizer in vs_country_optimizers) {
    lctrl <- lme4::lmerControl(optimizer = optimizer, calc.derivs = control$calc_derivs)
    run <- vs_collect(lmerTest::lmer(stats::as.formula(formula), data = data, REML = control$REML,
                                     control = lctrl))
    if (!inherits(run$value, "lmerModLmerTest")) {
      stop("lmerTest could not compute the degrees of freedom: ", paste(run$notes, collapse = " | "),
           call. = FALSE)
    }
    facts <- vs_ranking_facts(run$value, run$notes, optimizer)
    attempts[[length(attempts) + 1]] <- list(fit = run$value, facts = facts)
    if (facts$converged) break
  }
  attempts
}

vs_country_mixed <- function(data, control) {
  formulas <- if (nlevels(data$model) >= 2) vs_country_formulas else vs_country_formulas["country"]
  steps <- list()
  chosen <- NULL
  last <- NULL
  for (name in names(formulas)) {
    attempts <- vs_country_try(formulas[[name]], data, control)
    for (a in attempts) {
      ok <- a$facts$converged && !a$facts$singular
      steps[[length(steps) + 1]] <- cbind(
        data.frame(step = length(steps) + 1L, structure = name, formula = formulas[[name]],
                   stringsAsFactors = FALSE),
        a$facts,
        data.frame(action = if (ok) "chosen" else if (!a$facts$converged) "next optimizer or structure"
                   else "singular: simplify", stringsAsFactors = FALSE))
      last <- a
      if (ok) chosen <- a
    }
    if (!is.null(chosen)) break
  }
  if (is.null(chosen)) {  # nothing converged without a boundary: report the simplest, flagged
    chosen <- last
    steps[[length(steps)]]$action <- "last structure: reported, not recommended"
  }
  steps <- do.call(rbind, steps)
  steps$chosen <- seq_len(nrow(steps)) == max(which(steps$action %in% c("chosen",
                                                    "last structure: reported, not recommended")))
  list(fit = chosen$fit, facts = chosen$facts, steps = steps)
}

vs_country_fixed <- function(mixed, control) {
  ddf <- if (control$ddf == "Kenward-Roger") "Kenward-Roger" else "Satterthwaite"
  sm <- vs_collect(summary(mixed$fit, ddf = ddf))
  co <- sm$value$coefficients
  tidy <- vs_tidy_table(rownames(co), co[, "Estimate"], co[, "Std. Error"], co[, "df"], co[, "t value"],
                        co[, "Pr(>|t|)"], control$conf_level)
  recommended <- mixed$facts$converged && !mixed$facts$singular
  method <- sprintf("lmer %s, %s df%s", deparse1(stats::formula(mixed$fit)), ddf,
                    if (recommended) "" else " (singular or not converged: not recommended)")
  vs_country_row(ifelse(tidy$term == "distance", "slope", "intercept"), "all", tidy$term, tidy$estimate,
                 tidy$std_error, tidy$df, tidy$statistic, tidy$p_value, tidy$conf_low, tidy$conf_high,
                 method)
}

# The fixed-effect line with a pointwise confidence band (t with the slope's df).
vs_country_line <- function(mixed, fixed, data, control) {
  grid <- seq(min(data$distance), max(data$distance), length.out = control$line_points)
  beta <- lme4::fixef(mixed$fit)
  v <- as.matrix(stats::vcov(mixed$fit))
  x <- cbind(1, grid)
  fit <- as.vector(x %*% beta[c("(Intercept)", "distance")])
  se <- sqrt(rowSums((x %*% v[c("(Intercept)", "distance"), c("(Intercept)", "distance")]) * x))
  q <- stats::qt(1 - (1 - control$conf_level) / 2, fixed$df[fixed$term == "distance"])
  data.frame(distance = grid, estimate = fit, conf_low = fit - q * se, conf_high = fit + q * se)
}

vs_country_glance <- function(mixed, data) {
  fit <- mixed$fit
  ngrps <- lme4::ngrps(fit)
  vc <- as.data.frame(lme4::VarCorr(fit))
  what <- ifelse(vc$grp == "Residual", "sd",
                 ifelse(is.na(vc$var2), paste("sd", vc$var1), paste("cor", vc$var1, vc$var2)))
  sds <- paste(sprintf("%s %s = %.4g", vc$grp, what, vc$sdcor), collapse = "; ")
  data.frame(nobs = stats::nobs(fit), n_models = nlevels(data$model), n_countries = nlevels(data$country),
             groups = paste(sprintf("%s %d", names(ngrps), as.integer(ngrps)), collapse = ", "),
             sigma = stats::sigma(fit), logLik = as.numeric(stats::logLik(fit)),
             random_sd = sds, singular = mixed$facts$singular, converged = mixed$facts$converged,
             messages = mixed$facts$messages, stringsAsFactors = FALSE)
}

vs_country_association <- function(data, control = vs_country_control()) {
  data <- vs_country_check(data, control)
  per_model <- vs_country_per_model(data, control)
  mixed <- vs_country_mixed(data, control)
  fixed <- vs_country_fixed(mixed, control)
  tidy <- rbind(per_model, fixed, vs_country_two_stage(per_model, control),
                vs_country_mean_correlation(data, control))
  list(tidy = tidy, steps = mixed$steps, line = vs_country_line(mixed, fixed, data, control),
       glance = vs_country_glance(mixed, data))
}

# Rscript entry point, for reviewers: re-fit the association from the tables the analysis wrote.
#   Rscript R/country_models.R STUDY_DIR [OUT_DIR]
# reads estimates/countries_similarity.csv and estimates/countries_culture.csv and writes
# OUT_DIR/countries_association.csv (default: STUDY_DIR/estimates) with the same rows as
# `valuesurvey analyze` (the table's other columns are added by Python; this writes the R columns).
vs_country_run_study <- function(study_dir, out_dir = file.path(study_dir, "estimates")) {
  read <- function(name) {
    path <- file.path(study_dir, "estimates", name)
    if (!file.exists(path)) stop(sprintf("%s: file not found; run `valuesurvey analyze` first", path),
                                 call. = FALSE)
    # Only an empty cell is missing: "NA" is Namibia.
    utils::read.csv(path, stringsAsFactors = FALSE, na.strings = "")
  }
  sim <- read("countries_similarity.csv")
  culture <- read("countries_culture.csv")
  sim <- sim[sim$removed == "none", , drop = FALSE]
  out <- list()
  for (key in unique(paste(sim$instrument, sim$condition, sep = "\t"))) {
    parts <- strsplit(key, "\t", fixed = TRUE)[[1]]
    s <- sim[sim$instrument == parts[1] & sim$condition == parts[2], , drop = FALSE]
    d <- culture[culture$instrument == parts[1], c("country", "estimate")]
    names(d)[2] <- "distance"
    data <- merge(data.frame(model = s$model, country = s$country, similarity = s$estimate), d,
                  by = "country")
    if (length(unique(data$country)) < 3) next
    fit <- vs_country_association(data)
    out[[length(out) + 1]] <- cbind(instrument = parts[1], condition = parts[2], fit$tidy)
  }
  dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
  target <- file.path(out_dir, "countries_association_r.csv")
  utils::write.csv(if (length(out)) do.call(rbind, out) else data.frame(), target, row.names = FALSE)
  invisible(target)
}

if (sys.nframe() == 0L && !interactive()) {
  vs_country_args <- commandArgs(trailingOnly = TRUE)
  if (length(vs_country_args) %in% c(1L, 2L)) {
    suppressPackageStartupMessages({ library(lme4); library(lmerTest) })
    vs_country_file <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
    vs_country_dir <- dirname(normalizePath(sub("^--file=", "", vs_country_file[1])))
    source(file.path(vs_country_dir, "fit.R"))
    source(file.path(vs_country_dir, "ranking.R"))
    target <- do.call(vs_country_run_study, as.list(vs_country_args))
    cat("wrote", target, "\n")
  } else {
    stop("usage: Rscript R/country_models.R STUDY_DIR [OUT_DIR]", call. = FALSE)
  }
}
