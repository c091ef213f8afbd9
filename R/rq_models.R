# The paper's models (seed 001, RQ1-RQ3), each fitted twice with vs_fit() from R/fit.R:
#   lm   exactly as the paper (every person x LLM pair an independent row);
#   lmer the same fixed effects plus crossed random intercepts (1 | participant) + (1 | model),
#        lmerTest Satterthwaite df.
#
#   rq_fit(data, "rq1", instrument = "mfq2", control = rq_control())
#     -> list(tidy, random, glance, coding), tidy in broom's vocabulary plus analysis/model/method.
#
# Coding (stated once, here): nationality and origin half-sum coded, China = +0.5, USA = -0.5
# (RQ1, RQ3); congruence with the participant's nationality, congruent ("yes") = +0.5 (RQ2);
# removed treatment coded, "none" = 0 (RQ3). Plain functions: sourcing has no side effects.

rq_analyses <- c("rq1", "rq2", "rq3")
rq_rq3_lmer_modes <- c("full", "per_level", "skip")

rq_control <- function(fits = c("lm", "lmer"), ddf = "Satterthwaite", rq3_lmer = "full",
                       conf_level = 0.95, ...) {
  extra <- list(...)
  if (length(extra)) warning("rq_control: ignoring unknown arguments: ", paste(names(extra), collapse = ", "))
  bad <- setdiff(fits, vs_fit_methods)
  if (length(bad)) {
    stop(sprintf("fits must be among %s, not %s", paste(sprintf("'%s'", vs_fit_methods), collapse = ", "),
                 paste(sprintf("'%s'", bad), collapse = ", ")), call. = FALSE)
  }
  if (!rq3_lmer %in% rq_rq3_lmer_modes) {
    stop(sprintf("rq3_lmer must be one of %s, not '%s'",
                 paste(sprintf("'%s'", rq_rq3_lmer_modes), collapse = ", "), rq3_lmer), call. = FALSE)
  }
  list(fits = as.character(fits), rq3_lmer = rq3_lmer,
       fit = vs_fit_control(ddf = ddf, conf_level = conf_level))
}

rq_check_analysis <- function(analysis) {
  if (!analysis %in% rq_analyses) {
    stop(sprintf("analysis must be one of %s, not '%s'",
                 paste(sprintf("'%s'", rq_analyses), collapse = ", "), analysis), call. = FALSE)
  }
}

rq_fixed <- function(analysis) {
  rq_check_analysis(analysis)
  switch(analysis,
    rq1 = "cosine ~ nationality * origin",
    rq2 = "cosine ~ language_congruent * persona_congruent * origin_congruent",
    rq3 = "cosine ~ nationality * origin * removed")
}

rq_random <- "(1 | participant) + (1 | model)"

rq_formula <- function(analysis, fit) {
  if (fit == "lm") rq_fixed(analysis) else paste(rq_fixed(analysis), "+", rq_random)
}

rq_coding <- function(analysis) {
  rq_check_analysis(analysis)
  switch(analysis,
    rq1 = vs_coding(c("nationality", "origin"), c("half_sum", "half_sum"), c("CN", "CN")),
    rq2 = vs_coding(c("language_congruent", "persona_congruent", "origin_congruent"),
                    rep("half_sum", 3), rep("yes", 3)),
    rq3 = vs_coding(c("nationality", "origin", "removed"), c("half_sum", "half_sum", "treatment"),
                    c("CN", "CN", "none")))
}

rq_method <- function(fit, control) {
  if (fit == "lm") return("lm: OLS, person x LLM pairs as independent rows (as in the paper)")
  sprintf("lmer: REML, crossed random intercepts %s, lmerTest %s df", rq_random, control$fit$ddf)
}

rq_require <- function(data, columns, analysis) {
  missing <- setdiff(columns, names(data))
  if (length(missing)) {
    stop(sprintf("%s data lack column(s) %s; columns are: %s", analysis, paste(missing, collapse = ", "),
                 paste(names(data), collapse = ", ")), call. = FALSE)
  }
}

# The participant's own language: Chinese participants answered in Chinese, Americans in English.
rq_native_language <- function(nationality) ifelse(as.character(nationality) == "CN", "zh", "en")

# Add the columns an analysis codes (congruence factors for RQ2; removed with "none" first for RQ3).
rq_prepare <- function(data, analysis) {
  rq_check_analysis(analysis)
  rq_require(data, c("cosine", "participant", "model", "nationality", "origin"), analysis)
  data <- as.data.frame(data)
  data$participant <- factor(data$participant)
  data$model <- factor(data$model)
  if (analysis == "rq2") {
    rq_require(data, c("language", "persona"), analysis)
    nat <- as.character(data$nationality)
    yes_no <- function(x) factor(ifelse(x, "yes", "no"), levels = c("no", "yes"))
    data$language_congruent <- yes_no(as.character(data$language) == rq_native_language(nat))
    data$persona_congruent <- yes_no(toupper(as.character(data$persona)) == nat)
    data$origin_congruent <- yes_no(as.character(data$origin) == nat)
  }
  if (analysis == "rq3") {
    rq_require(data, "removed", analysis)
    levels_removed <- unique(as.character(data$removed))
    if (!"none" %in% levels_removed) stop("rq3 data have no rows with removed == 'none'", call. = FALSE)
    data$removed <- factor(data$removed, levels = c("none", setdiff(levels_removed, "none")))
  }
  data
}

# The fixed-effects design matrix after coding: the coding made visible (tests, reviewers).
rq_design_matrix <- function(data, analysis) {
  coded <- vs_apply_coding(rq_prepare(data, analysis), rq_coding(analysis))$data
  mm <- stats::model.matrix(stats::as.formula(rq_fixed(analysis)), data = coded)
  as.data.frame(mm, check.names = FALSE)
}

rq_label <- function(analysis, instrument) {
  if (is.null(instrument) || !nzchar(instrument)) analysis else paste0(analysis, "_", instrument)
}

rq_decorate <- function(part, label, fit, method) {
  if (is.null(part) || !nrow(part)) return(part)
  lead <- data.frame(analysis = rep(label, nrow(part)), model = rep(fit, nrow(part)),
                     stringsAsFactors = FALSE)
  out <- cbind(lead, part[, setdiff(names(part), "method"), drop = FALSE])
  out$method <- method
  out
}

# RQ3 lmer, "per_level": one lmer per removal level on the rows of "none" plus that level. Each fit
# is the full RQ3 model restricted to two levels, so its terms are those of the full model; terms of
# level "none" (intercept, nationality, origin, their interaction) come from the first fit.
rq_fit_rq3_per_level <- function(data, control) {
  levels_removed <- setdiff(levels(data$removed), "none")
  parts <- list()
  glances <- list()
  randoms <- list()
  for (i in seq_along(levels_removed)) {
    lv <- levels_removed[i]
    sub <- droplevels(data[data$removed %in% c("none", lv), , drop = FALSE])
    out <- vs_fit(rq_formula("rq3", "lmer"), sub, method = "lmer", coding = rq_coding("rq3"),
                  control = control$fit)
    keep <- if (i == 1) rep(TRUE, nrow(out$tidy)) else grepl("removed", out$tidy$term, fixed = TRUE)
    parts[[i]] <- out$tidy[keep, , drop = FALSE]
    glances[[i]] <- cbind(level = lv, out$glance)
    randoms[[i]] <- cbind(level = lv, out$random)
  }
  glance <- do.call(rbind, glances)
  combined <- glance[1, setdiff(names(glance), "level"), drop = FALSE]
  combined$nobs <- nrow(data)
  combined$messages <- paste(unique(unlist(strsplit(glance$messages[nzchar(glance$messages)], " \\| "))),
                             collapse = " | ")
  combined$singular <- any(glance$singular)
  for (col in c("sigma", "logLik", "AIC", "BIC", "deviance", "df_residual")) combined[[col]] <- NA
  list(tidy = do.call(rbind, parts), random = do.call(rbind, randoms), glance = combined,
       coding = out$coding)
}

rq_fit_one <- function(data, analysis, fit, control) {
  if (analysis == "rq3" && fit == "lmer" && control$rq3_lmer == "per_level") {
    return(rq_fit_rq3_per_level(data, control))
  }
  vs_fit(rq_formula(analysis, fit), data, method = fit, coding = rq_coding(analysis),
         control = control$fit)
}

rq_fit <- function(data, analysis, instrument = "", control = rq_control()) {
  data <- rq_prepare(data, analysis)
  label <- rq_label(analysis, instrument)
  fits <- control$fits
  if (analysis == "rq3" && control$rq3_lmer == "skip") fits <- setdiff(fits, "lmer")
  tidy <- list(); random <- list(); glance <- list(); coding <- NULL
  for (fit in fits) {
    started <- proc.time()[["elapsed"]]
    out <- rq_fit_one(data, analysis, fit, control)
    seconds <- proc.time()[["elapsed"]] - started
    method <- rq_method(fit, control)
    if (analysis == "rq3" && fit == "lmer" && control$rq3_lmer == "per_level") {
      method <- paste0(method, "; fitted per removal level on none + that level")
    }
    tidy[[fit]] <- rq_decorate(out$tidy, label, fit, method)
    random[[fit]] <- rq_decorate(out$random, label, fit, method)
    g <- out$glance
    g$seconds <- seconds
    g$formula <- rq_formula(analysis, fit)
    glance[[fit]] <- rq_decorate(g, label, fit, method)
    coding <- out$coding
  }
  list(tidy = rq_bind(tidy), random = rq_bind(random), glance = rq_bind(glance), coding = coding)
}

# Row-bind frames whose columns differ (lm has no n_participant); counts become doubles so that
# a missing count is a plain NA on both sides of the bridge.
rq_bind <- function(parts) {
  cols <- unique(unlist(lapply(parts, names)))
  out <- do.call(rbind, lapply(parts, function(p) { p[setdiff(cols, names(p))] <- NA; p[cols] }))
  for (col in names(out)) if (is.integer(out[[col]])) out[[col]] <- as.numeric(out[[col]])
  rownames(out) <- NULL
  out
}

# rq_fit with the control options as plain arguments (what the Python bridge calls).
rq_fit_with <- function(data, analysis, instrument = "", fits = c("lm", "lmer"), ddf = "Satterthwaite",
                        rq3_lmer = "full", conf_level = 0.95) {
  rq_fit(data, analysis, instrument = instrument,
         control = rq_control(fits = fits, ddf = ddf, rq3_lmer = rq3_lmer, conf_level = conf_level))
}

# Table-2 style: one row per analysis x term, lm and lmer side by side.
rq_side_by_side <- function(tidy) {
  keep <- c("analysis", "term", "estimate", "std_error", "df", "p_value", "conf_low", "conf_high")
  fits <- unique(tidy$model)
  out <- NULL
  for (fit in fits) {
    part <- tidy[tidy$model == fit, keep, drop = FALSE]
    names(part)[-(1:2)] <- paste0(fit, "_", names(part)[-(1:2)])
    out <- if (is.null(out)) part else merge(out, part, by = c("analysis", "term"), all = TRUE, sort = FALSE)
  }
  if ("lm_std_error" %in% names(out) && "lmer_std_error" %in% names(out)) {
    out$se_ratio_lmer_lm <- out$lmer_std_error / out$lm_std_error
  }
  order_key <- match(paste(out$analysis, out$term), paste(tidy$analysis, tidy$term))
  out <- out[order(order_key), , drop = FALSE]
  rownames(out) <- NULL
  out
}
