# Analyses declared in study.yaml (`analyses:`): a formula, a family, a coding, emmeans, on the rows
# the Python side selected and exported.
#
#   decl_fit(data, formula, family = "gaussian", coding = vs_coding(...), emmeans = decl_emmeans_specs(),
#            control = decl_control(), name = "")
#     -> list(tidy, random, glance, coding, simplification, emmeans, contrasts)
#
# Fitting functions:
#   gaussian, no random effects   stats::lm (vs_fit_lm)
#   gaussian, random effects      lme4::lmer + lmerTest (vs_fit_mixed, vs_lme4_fit_core), Satterthwaite
#                                 or Kenward-Roger df
#   ordinal, no random effects    ordinal::clm
#   ordinal, random effects       ordinal::clmm (Laplace), through vs_fit_mixed with decl_clmm_attempt
# Random-effect terms are fitted as data (R/structures.R): the columns of each term's model matrix
# (a factor's contrast codes under the declared coding) become numeric columns, so that the fit equals
# lme4/ordinal called with the factor itself, and `simplify = TRUE` can drop correlations and single
# components. Every fit, simplified or not, records its attempts (simplification), convergence,
# singularity and R's messages as data.
#
# Coding: the study's coding per factor (half_sum with the positive level, sum = contr.sum, treatment
# with the reference); a factor among the predictors without one gets treatment coding with its first
# level (code-point order), recorded with source "default". Rows with a missing value in a variable of
# the formula are left out and counted (glance$n_dropped). Plain functions: sourcing has no side effects.

decl_families <- c("gaussian", "ordinal")
decl_links <- c("logit", "probit", "cloglog", "loglog", "cauchit")
# ordinal::clmm's optimizers: ucminf only fits one random intercept (its "ssr" path); other models
# have nlminb alone, so they get no allFit-style retry.
decl_clmm_optimizers <- function(structure) {
  single <- length(structure) == 1 && identical(structure[[1]]$cols, "(Intercept)")
  if (single) c("nlminb", "ucminf") else "nlminb"
}

decl_control <- function(family = "gaussian", link = "logit", simplify = FALSE, ddf = "Satterthwaite",
                         conf_level = 0.95, ...) {
  extra <- list(...)
  if (length(extra)) warning("decl_control: ignoring unknown arguments: ", paste(names(extra), collapse = ", "))
  if (!family %in% decl_families) {
    stop(sprintf("family must be one of %s, not '%s'", vs_quote_list(decl_families), family), call. = FALSE)
  }
  if (!link %in% decl_links) {
    stop(sprintf("link must be one of %s, not '%s'", vs_quote_list(decl_links), link), call. = FALSE)
  }
  list(family = family, link = link, simplify = isTRUE(simplify),
       fit = vs_fit_control(ddf = ddf, conf_level = conf_level))
}

# emmeans calls: one row each (index, specs, contrasts, ref, adjust, mode; "" = emmeans' default);
# custom contrasts as rows of `weights` (index, contrast, weights = space-separated coefficients).
decl_emmeans_specs <- function(index = integer(), specs = character(), contrasts = character(),
                               ref = character(), adjust = character(), mode = character()) {
  data.frame(index = as.integer(index), specs = as.character(specs), contrasts = as.character(contrasts),
             ref = as.character(ref), adjust = as.character(adjust), mode = as.character(mode),
             stringsAsFactors = FALSE)
}

# Text and logical columns become factors whose levels are in code-point order (radix sort), and
# integers doubles, so that the Python bridge and a CSV read by Rscript give the same data.
decl_prepare <- function(data) {
  data <- as.data.frame(data)
  for (column in names(data)) {
    x <- data[[column]]
    if (is.integer(x) && !is.factor(x)) data[[column]] <- as.numeric(x)
    if (is.logical(x)) x <- as.character(x)
    if (is.factor(x)) x <- as.character(x)
    if (is.character(x)) data[[column]] <- factor(x, levels = sort(unique(x[!is.na(x)]), method = "radix"))
  }
  data
}

decl_response <- function(formula) all.vars(formula[[2]])

# Variables that enter the fixed effects or the left-hand side of a random-effect term.
decl_predictors <- function(formula) {
  fixed <- all.vars(lme4::nobars(formula)[[3]])
  slopes <- unlist(lapply(lme4::findbars(formula), function(b) all.vars(b[[2]])))
  unique(c(fixed, slopes))
}

# Drop rows with a missing value in a variable of the formula, and say how many per variable.
decl_complete <- function(data, formula) {
  vars <- all.vars(formula)
  missing <- vapply(vars, function(v) sum(is.na(data[[v]])), 0)
  keep <- stats::complete.cases(data[vars])
  note <- if (any(!keep)) {
    sprintf("left out %d of %d rows with a missing value (%s)", sum(!keep), nrow(data),
            paste(sprintf("%s: %d", vars[missing > 0], missing[missing > 0]), collapse = ", "))
  } else character()
  list(data = droplevels(data[keep, , drop = FALSE]), n_dropped = sum(!keep), note = note)
}

# The ordinal response: an ordered factor of the rating's observed values (integers).
decl_ordinal_response <- function(data, response) {
  y <- data[[response]]
  if (!is.numeric(y) || any(abs(y - round(y)) > 1e-9)) {
    stop(sprintf("family ordinal needs whole-number ratings in '%s' (logprobs answers are expected values: use family gaussian)",
                 response), call. = FALSE)
  }
  levels_y <- sort(unique(y))
  if (length(levels_y) < 3) {
    stop(sprintf("family ordinal needs at least 3 observed rating values in '%s', found %s", response,
                 paste(levels_y, collapse = ", ")), call. = FALSE)
  }
  data[[response]] <- factor(y, levels = levels_y, ordered = TRUE)
  data
}

# The study's coding plus treatment coding (first level) for every other factor among the predictors.
decl_codings <- function(formula, data, coding) {
  coding <- if (is.null(coding) || !nrow(coding)) vs_coding() else coding
  coding[] <- lapply(coding, as.character)
  coding$scheme[coding$scheme == "sum"] <- "contr_sum"
  coding$level[is.na(coding$level)] <- ""
  coding$source <- rep("study.yaml", nrow(coding))
  for (v in decl_predictors(formula)) {
    if (v %in% coding$variable || !is.factor(data[[v]])) next
    coding <- rbind(coding, data.frame(variable = v, scheme = "treatment", level = levels(data[[v]])[1],
                                       source = "default", stringsAsFactors = FALSE))
  }
  coding
}

decl_bar_terms <- function(formula) {
  bars <- lme4::findbars(formula)
  if (is.null(bars)) list() else bars
}

# Random-effect terms as a structure (R/structures.R) whose columns are numeric columns added to `data`:
# the model matrix of each term's left-hand side under the coding already applied to the factors.
decl_structure <- function(formula, data) {
  structure <- list()
  for (bar in decl_bar_terms(formula)) {
    group <- paste(deparse(bar[[3]], width.cutoff = 500L), collapse = "")
    lhs <- paste(deparse(bar[[2]], width.cutoff = 500L), collapse = "")
    mm <- stats::model.matrix(stats::as.formula(paste("~", lhs)), data = data)
    cols <- character()
    for (j in seq_len(ncol(mm))) {
      name <- colnames(mm)[j]
      if (name == "(Intercept)") { cols <- c(cols, name); next }
      column <- decl_code_column(name, mm[, j], data)
      data[[column$name]] <- column$values
      cols <- c(cols, column$term)
    }
    structure[[length(structure) + 1]] <- vs_re_term(group, cols, correlated = TRUE)
  }
  list(structure = structure, data = data)
}

# A model-matrix column as a data column: its own name when that is a valid, unused name (languagezh,
# originCN), the product a:b of two such columns for an interaction, else a sanitised name.
decl_code_column <- function(name, values, data) {
  fits <- function(n) is.null(data[[n]]) || (is.numeric(data[[n]]) && isTRUE(all.equal(data[[n]], values,
                                                                                    check.attributes = FALSE)))
  if (make.names(name) == name && fits(name)) return(list(name = name, values = unname(values), term = name))
  parts <- strsplit(name, ":", fixed = TRUE)[[1]]
  if (length(parts) > 1 && all(vapply(parts, function(p) is.numeric(data[[p]]), TRUE))) {
    product <- Reduce(`*`, lapply(parts, function(p) data[[p]]))
    if (isTRUE(all.equal(product, unname(values)))) return(list(name = parts[1], values = data[[parts[1]]], term = name))
  }
  safe <- make.names(paste0(".re_", name))
  list(name = safe, values = unname(values), term = safe)
}

# ----------------------------------------------------------------------------------------- ordinal

decl_latent_sd <- function(link) {
  switch(link, logit = pi / sqrt(3), probit = 1, cloglog = pi / sqrt(6), loglog = pi / sqrt(6), 1)
}

decl_clmm_components <- function(fit) {
  vc <- ordinal::VarCorr(fit)
  do.call(rbind, lapply(seq_along(vc), function(i) {
    m <- vc[[i]]
    data.frame(group = names(vc)[i], component = colnames(m), sd = sqrt(pmax(diag(m), 0)),
               stringsAsFactors = FALSE)
  }))
}

# Singular, as lme4's isSingular: a diagonal element of a random-effect covariance's Cholesky factor,
# relative to the latent residual SD, below 1e-4 (a variance at zero or a correlation at +-1).
decl_clmm_singular <- function(fit, link) {
  scale <- decl_latent_sd(link)
  vc <- ordinal::VarCorr(fit)
  any(vapply(vc, function(m) {
    m <- as.matrix(m)
    ch <- tryCatch(chol(m), error = function(e) NULL)
    if (is.null(ch)) return(TRUE)
    any(diag(ch) / scale < 1e-4)
  }, TRUE))
}

decl_clmm_converged <- function(fit, optimizer) {
  code <- fit$optRes$convergence
  ok_code <- if (optimizer == "ucminf") code %in% c(1, 2, 4) else identical(as.numeric(code), 0)
  grad_ok <- max(abs(fit$gradient)) < 1e-3
  hessian_ok <- all(is.finite(fit$Hessian)) &&
    tryCatch(min(eigen(fit$Hessian, symmetric = TRUE, only.values = TRUE)$values) > 0, error = function(e) FALSE)
  list(converged = ok_code && grad_ok && hessian_ok,
       notes = c(if (!ok_code) sprintf("%s stopped with code %s: %s", optimizer, code, paste(fit$optRes$message, collapse = " ")),
                 if (!grad_ok) sprintf("max |gradient| %.2g >= 1e-3", max(abs(fit$gradient))),
                 if (!hessian_ok) "Hessian is not positive definite"))
}

# One clmm fit of one structure (the attempt interface of vs_fit_mixed).
decl_clmm_attempt <- function(formula, data, spec, control, optimizer) {
  link <- control$link
  f <- lme4::expandDoubleVerts(formula)  # clmm has no ||: (1 + x || g) is (1 | g) + (0 + x | g)
  ctrl <- ordinal::clmm.control(method = optimizer)
  run <- vs_collect(ordinal::clmm(f, data = data, link = link, control = ctrl, Hess = TRUE))
  fit <- run$value
  check <- decl_clmm_converged(fit, optimizer)
  singular <- decl_clmm_singular(fit, link)
  notes <- unique(c(run$notes, check$notes, if (singular) "boundary (singular) fit"))
  beta <- fit$beta
  vc <- stats::vcov(fit)
  attempt <- list(engine = "ordinal", optimizer = optimizer, sigma = decl_latent_sd(link),
                  converged = check$converged, singular = singular, logLik = as.numeric(stats::logLik(fit)),
                  AIC = stats::AIC(fit), messages = notes, beta = beta,
                  vcov_beta_approx = vc[names(beta), names(beta), drop = FALSE],
                  components = decl_clmm_components(fit))
  attempt$finish <- function() {
    decl_ordinal_finish(fit, notes, singular, check$converged, optimizer, control$conf_level)
  }
  attempt
}

decl_ordinal_tidy <- function(fit, conf_level) {
  co <- summary(fit)$coefficients
  est <- co[, 1]; se <- co[, 2]; z <- est / se
  tidy <- vs_tidy_table(rownames(co), est, se, rep(Inf, nrow(co)), z, 2 * stats::pnorm(-abs(z)), conf_level)
  tidy$effect <- ifelse(rownames(co) %in% names(fit$alpha), "threshold", "location")
  tidy
}

decl_ordinal_random <- function(fit) {
  vc <- ordinal::VarCorr(fit)
  rows <- list()
  for (i in seq_along(vc)) {
    m <- as.matrix(vc[[i]]); sds <- sqrt(pmax(diag(m), 0)); names_m <- colnames(m)
    rows[[length(rows) + 1]] <- data.frame(group = names(vc)[i], term = paste0("sd__", names_m), estimate = sds,
                                           stringsAsFactors = FALSE)
    if (length(names_m) > 1) {
      pairs <- which(upper.tri(m), arr.ind = TRUE)
      r <- m[pairs] / (sds[pairs[, 1]] * sds[pairs[, 2]])
      rows[[length(rows) + 1]] <- data.frame(group = names(vc)[i],
        term = paste0("cor__", names_m[pairs[, 1]], ".", names_m[pairs[, 2]]), estimate = r, stringsAsFactors = FALSE)
    }
  }
  if (!length(rows)) return(data.frame(group = character(), term = character(), estimate = numeric()))
  do.call(rbind, rows)
}

decl_ordinal_finish <- function(fit, notes, singular, converged, optimizer, conf_level) {
  mixed <- inherits(fit, "clmm")
  ll <- stats::logLik(fit)
  glance <- data.frame(method = if (mixed) "clmm" else "clm", nobs = stats::nobs(fit), sigma = NA_real_,
                       logLik = as.numeric(ll), AIC = stats::AIC(fit), BIC = stats::BIC(fit),
                       deviance = -2 * as.numeric(ll), df_residual = NA_real_, REML = FALSE,
                       optimizer = optimizer, ddf = "asymptotic (z)", singular = singular,
                       messages = paste(notes, collapse = " | "), stringsAsFactors = FALSE)
  if (mixed) for (g in names(fit$dims$nlev.gf)) glance[[paste0("n_", g)]] <- as.integer(fit$dims$nlev.gf[[g]])
  glance$max_grad <- max(abs(fit$gradient))
  glance$cond_H <- if (!is.null(fit$cond.H)) fit$cond.H else summary(fit)$info$cond.H
  list(tidy = decl_ordinal_tidy(fit, conf_level), random = decl_ordinal_random(fit), glance = glance,
       engine = "ordinal", converged = converged, object = fit)
}

decl_fit_clm <- function(formula, data, control) {
  run <- vs_collect(ordinal::clm(formula, data = data, link = control$link))
  fit <- run$value
  code <- fit$convergence$code
  converged <- identical(as.numeric(code), 0) && max(abs(fit$gradient)) < 1e-3
  notes <- unique(c(run$notes, if (!converged) paste(fit$convergence$messages, collapse = " ")))
  decl_ordinal_finish(fit, notes, FALSE, converged, "Newton", control$fit$conf_level)
}

# ----------------------------------------------------------------------------------------- emmeans

decl_emm_rows <- function(s) {
  frame <- as.data.frame(s)
  pri <- attr(s, "pri.vars"); by <- attr(s, "by.vars")
  label <- function(vars) {
    if (!length(vars)) return(rep("", nrow(frame)))
    parts <- lapply(vars, function(v) if (v == "contrast") as.character(frame[[v]]) else paste(v, "=", frame[[v]]))
    do.call(paste, c(parts, sep = ", "))
  }
  pick <- function(options) { hit <- intersect(options, names(frame)); if (length(hit)) frame[[hit[1]]] else NA_real_ }
  data.frame(at = label(by), term = label(pri), estimate = frame[[attr(s, "estName")]], std_error = pick("SE"),
             df = pick("df"), statistic = pick(c("t.ratio", "z.ratio")), p_value = pick("p.value"),
             conf_low = pick(c("lower.CL", "asymp.LCL")), conf_high = pick(c("upper.CL", "asymp.UCL")),
             stringsAsFactors = FALSE)
}

decl_emm_args <- function(object, data, specs, mode, control) {
  args <- list(object, specs = stats::as.formula(specs), data = data)
  if (inherits(object, "merMod")) {
    args$lmer.df <- if (control$fit$ddf == "Kenward-Roger") "kenward-roger" else "satterthwaite"
    args$lmerTest.limit <- Inf
    args$pbkrtest.limit <- Inf
  }
  if (!is.na(mode) && nzchar(mode)) args$mode <- mode
  args
}

# emmeans and contrasts of one fitted object; messages (emmeans notes, adjustments) kept as data.
decl_emmeans <- function(object, data, specs, weights, control) {
  emm_rows <- list(); con_rows <- list()
  if (is.null(specs) || !nrow(specs)) return(list(emmeans = NULL, contrasts = NULL))
  for (i in seq_len(nrow(specs))) {
    s <- specs[i, ]
    run <- vs_collect(do.call(emmeans::emmeans, decl_emm_args(object, data, s$specs, s$mode, control)))
    grid <- run$value
    summary_emm <- summary(grid, infer = c(TRUE, TRUE), level = control$fit$conf_level)
    rows <- decl_emm_rows(summary_emm)
    notes <- unique(c(run$notes, attr(summary_emm, "mesg")))
    emm_rows[[i]] <- cbind(index = s$index, spec = s$specs, rows,
                           mode = if (is.na(s$mode) || !nzchar(s$mode)) "" else s$mode,
                           messages = paste(notes, collapse = " | "), stringsAsFactors = FALSE)
    if (identical(s$contrasts, "none")) next
    method <- if (identical(s$contrasts, "custom")) {
      w <- weights[weights$index == s$index, , drop = FALSE]
      n_levels <- nrow(summary_emm) / max(1, length(unique(rows$at)))
      stats::setNames(lapply(w$weights, function(text) {
        k <- as.numeric(strsplit(trimws(text), "\\s+")[[1]])
        if (length(k) != n_levels) {
          stop(sprintf("emmeans %d: contrast needs %d coefficients (one per estimate of '%s'), got %d",
                       s$index, n_levels, s$specs, length(k)), call. = FALSE)
        }
        k
      }), w$contrast)
    } else s$contrasts
    args <- list(grid, method = method)
    given <- function(x) !is.null(x) && !is.na(x) && nzchar(x)
    if (given(s$ref)) args$ref <- s$ref
    if (given(s$adjust)) args$adjust <- s$adjust
    crun <- vs_collect(do.call(emmeans::contrast, args))
    summary_con <- summary(crun$value, infer = c(TRUE, TRUE), level = control$fit$conf_level)
    crow <- decl_emm_rows(summary_con)
    names(crow)[names(crow) == "term"] <- "contrast"
    notes <- unique(c(crun$notes, attr(summary_con, "mesg")))
    con_rows[[i]] <- cbind(index = s$index, spec = s$specs, crow, method = s$contrasts,
                           adjust = attr(summary_con, "adjust") %||% "", messages = paste(notes, collapse = " | "),
                           stringsAsFactors = FALSE)
  }
  list(emmeans = rq_bind(emm_rows), contrasts = rq_bind(con_rows))
}

# ----------------------------------------------------------------------------------------- decl_fit

decl_method_text <- function(method, control, simplified) {
  switch(method,
    lm = "lm: OLS",
    lmer = sprintf("lmer: REML, lmerTest %s df%s", control$fit$ddf,
                   if (simplified) ", random effects simplified as recorded" else ""),
    clm = sprintf("clm: cumulative link (%s), Wald z", control$link),
    clmm = sprintf("clmm: cumulative link mixed model (%s, Laplace), Wald z%s", control$link,
                   if (simplified) ", random effects simplified as recorded" else ""))
}

decl_fit <- function(data, formula, family = "gaussian", coding = NULL, emmeans = NULL, weights = NULL,
                     control = decl_control(family = family), name = "") {
  started <- proc.time()[["elapsed"]]
  formula <- vs_parse_formula(formula)
  vs_check_columns(formula, data)
  data <- decl_prepare(data)
  n_rows <- nrow(data)
  complete <- decl_complete(data, formula)
  data <- complete$data
  if (!nrow(data)) stop("no rows left after leaving out rows with missing values", call. = FALSE)
  response <- decl_response(formula)
  if (control$family == "ordinal") {
    if (!requireNamespace("ordinal", quietly = TRUE)) {
      stop("family ordinal needs the R package ordinal (Debian: apt-get install r-cran-ordinal)", call. = FALSE)
    }
    data <- decl_ordinal_response(data, response)
  } else if (!is.numeric(data[[response]])) {
    stop(sprintf("family gaussian needs a numeric response; '%s' is not numeric", response), call. = FALSE)
  }
  codings <- decl_codings(formula, data, coding)
  coded <- vs_apply_coding(data, codings[c("variable", "scheme", "level")])
  coded$coding$source <- codings$source[match(coded$coding$variable, codings$variable)]
  mixed <- length(decl_bar_terms(formula)) > 0
  method <- if (control$family == "gaussian") { if (mixed) "lmer" else "lm" } else { if (mixed) "clmm" else "clm" }
  record <- NULL
  requested <- ""; final <- ""
  if (!mixed) {
    out <- if (method == "lm") vs_fit_lm(formula, coded$data, control$fit) else decl_fit_clm(formula, coded$data, control)
    fit_data <- coded$data
    out$converged <- if (is.null(out$converged)) TRUE else out$converged
    out$engine <- if (method == "lm") "stats" else "ordinal"
    final_formula <- paste(deparse(formula, width.cutoff = 500L), collapse = "")
  } else {
    built <- decl_structure(formula, coded$data)
    fixed <- paste(deparse(lme4::nobars(formula), width.cutoff = 500L), collapse = "")
    ctrl <- control$fit
    ctrl$link <- control$link
    extra <- if (method == "clmm") {
      list(attempt = decl_clmm_attempt, optimizers = decl_clmm_optimizers(built$structure))
    } else list()
    if (method == "clmm") ctrl$optimizer <- "nlminb"
    mixed_fit <- do.call(vs_fit_mixed, c(list(fixed, built$structure, built$data, spec = NULL, control = ctrl,
                                              simplify = control$simplify), extra))
    requested <- rq_random_label(built$structure)
    record <- cbind(analysis = name, requested = requested, mixed_fit$record)
    fit_data <- built$data
    if (is.null(mixed_fit$fit)) {  # recorded, not an error: the other analyses go on
      out <- decl_not_fitted(method, nrow(data))
      final <- ""; final_formula <- ""
    } else {
      out <- mixed_fit$fit$finish()
      out$glance$optimizer <- mixed_fit$fit$optimizer
      final <- rq_random_label(mixed_fit$structure)
      final_formula <- vs_re_formula(fixed, mixed_fit$structure)
    }
  }
  simplified <- mixed && !identical(requested, final)
  text <- decl_method_text(method, control, simplified)
  emm <- if (is.null(out$object)) list() else decl_emmeans(out$object, fit_data, emmeans, weights, control)
  decorate <- function(part) {
    if (is.null(part)) return(NULL)
    data.frame(analysis = rep(name, nrow(part)), model = rep(method, nrow(part)), part,
               stringsAsFactors = FALSE, check.names = FALSE)
  }
  tidy <- decorate(out$tidy)
  tidy$method <- rep(text, nrow(tidy))
  if (is.null(tidy$effect)) tidy$effect <- rep("fixed", nrow(tidy))
  tidy <- tidy[c("analysis", "model", "term", "estimate", "std_error", "df", "statistic", "p_value",
                 "conf_low", "conf_high", "method", "effect")]
  glance <- decorate(out$glance)
  glance$method <- NULL
  glance$family <- control$family
  glance$link <- if (control$family == "ordinal") control$link else ""
  glance$formula <- final_formula
  glance$random_requested <- if (mixed) requested else ""
  glance$random_final <- if (mixed) final else ""
  glance$engine <- out$engine
  glance$converged <- isTRUE(out$converged)
  glance$n_rows <- n_rows
  glance$n_dropped <- complete$n_dropped
  if (length(complete$note)) glance$messages <- paste(c(complete$note, if (nzchar(glance$messages)) glance$messages),
                                                      collapse = " | ")
  glance$seconds <- proc.time()[["elapsed"]] - started
  coding_out <- cbind(analysis = rep(name, nrow(coded$coding)), coded$coding, stringsAsFactors = FALSE)
  list(tidy = tidy, random = decorate(out$random), glance = glance, coding = coding_out,
       simplification = record,
       emmeans = if (!is.null(emm$emmeans)) cbind(analysis = name, emm$emmeans, stringsAsFactors = FALSE),
       contrasts = if (!is.null(emm$contrasts)) cbind(analysis = name, emm$contrasts, stringsAsFactors = FALSE))
}

decl_strings <- function(frame) {
  if (is.null(frame)) return(NULL)
  frame <- as.data.frame(frame)
  for (column in names(frame)) if (is.factor(frame[[column]])) frame[[column]] <- as.character(frame[[column]])
  frame
}

# What an analysis reports when the simplification leaves no random-effect structure: no estimates,
# and a fit_info row that says why (the record has every attempt).
decl_not_fitted <- function(method, n) {
  tidy <- vs_tidy_table(character(), numeric(), numeric(), numeric(), numeric(), numeric(), 0.95)
  glance <- data.frame(method = method, nobs = n, singular = NA, stringsAsFactors = FALSE,
                       messages = "no random-effect structure converged without a singular fit: no estimates reported (see the simplification record)")
  list(tidy = tidy, random = NULL, glance = glance, engine = "", converged = FALSE, object = NULL)
}

# decl_fit with plain arguments (what the Python bridge calls). Errors carry the analysis name.
decl_fit_with <- function(data, name, formula, family = "gaussian", link = "logit", simplify = FALSE,
                          ddf = "Satterthwaite", conf_level = 0.95, coding = NULL, emmeans = NULL,
                          weights = NULL) {
  control <- decl_control(family = family, link = link, simplify = simplify, ddf = ddf, conf_level = conf_level)
  coding <- decl_strings(coding); emmeans <- decl_strings(emmeans); weights <- decl_strings(weights)
  tryCatch(
    decl_fit(data, formula, family = family, coding = coding, emmeans = emmeans, weights = weights,
             control = control, name = name),
    error = function(e) stop(sprintf("analysis '%s': %s", name, gsub("\\s*\n\\s*", " ", conditionMessage(e))),
                             call. = FALSE))
}

# ------------------------------------------------------------------------------------ from the files

# What `valuesurvey analyze` exported to STUDY_DIR/analyses/: settings.csv (one row per analysis),
# coding.csv, emmeans.csv, contrast_weights.csv, columns.csv (each exported column's kind: text,
# numeric, boolean) and <name>_rows.csv (missing values are empty fields). Writes OUT_DIR/<name>.csv,
# <name>_emmeans.csv, <name>_contrasts.csv and declared_{fit_info,random_effects,coding,simplification}.csv.
decl_run_study <- function(study_dir, out_dir = file.path(study_dir, "estimates")) {
  folder <- file.path(study_dir, "analyses")
  settings_path <- file.path(folder, "settings.csv")
  if (!file.exists(settings_path)) return(invisible(character()))
  read <- function(name) {
    path <- file.path(folder, name)
    if (!file.exists(path)) return(NULL)
    frame <- data.table::fread(path, data.table = FALSE, colClasses = "character", na.strings = NULL)
    if (nrow(frame)) frame else NULL
  }
  settings <- read("settings.csv")
  coding <- read("coding.csv"); specs <- read("emmeans.csv"); weights <- read("contrast_weights.csv")
  columns <- read("columns.csv")
  dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
  parts <- list(glance = list(), random = list(), coding = list(), simplification = list())
  for (i in seq_len(nrow(settings))) {
    s <- settings[i, ]
    rows_path <- file.path(folder, paste0(s$name, "_rows.csv"))
    if (!file.exists(rows_path)) {  # an artifact leaves out rows of private human data
      message(sprintf("analysis '%s': %s is not here, not fitted", s$name, rows_path))
      next
    }
    mine <- function(frame) if (is.null(frame)) NULL else frame[frame$analysis == s$name, , drop = FALSE]
    kinds <- mine(columns)
    classes <- c(text = "character", numeric = "double", boolean = "logical")[kinds$kind]
    rows <- data.table::fread(rows_path, data.table = FALSE,
                              colClasses = stats::setNames(unname(classes), kinds$column), na.strings = "")
    emm <- mine(specs)
    if (!is.null(emm)) {
      emm <- decl_emmeans_specs(as.integer(emm$index), emm$specs, emm$contrasts, emm$ref, emm$adjust, emm$mode)
    }
    w <- mine(weights)
    if (!is.null(w)) w$index <- as.integer(w$index)
    out <- decl_fit_with(rows, s$name, s$formula, family = s$family, link = s$link,
                         simplify = s$simplify == "true", ddf = s$ddf, conf_level = as.numeric(s$conf_level),
                         coding = mine(coding)[c("variable", "scheme", "level")], emmeans = emm, weights = w)
    rq_write_csv(out$tidy, file.path(out_dir, paste0(s$name, ".csv")))
    if (!is.null(out$emmeans)) rq_write_csv(out$emmeans, file.path(out_dir, paste0(s$name, "_emmeans.csv")))
    if (!is.null(out$contrasts)) rq_write_csv(out$contrasts, file.path(out_dir, paste0(s$name, "_contrasts.csv")))
    for (part in names(parts)) parts[[part]][[length(parts[[part]]) + 1]] <- out[[part]]
  }
  names_out <- c(glance = "declared_fit_info", random = "declared_random_effects", coding = "declared_coding",
                 simplification = "declared_simplification")
  for (part in names(parts)) {
    frame <- rq_bind(parts[[part]])
    if (!is.null(frame)) rq_write_csv(frame, file.path(out_dir, paste0(names_out[[part]], ".csv")))
  }
  invisible(settings$name)
}
