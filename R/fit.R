# Generic model fitting with tidy output: formula first, data second, options in a control list.
#
#   vs_fit(formula, data, method = "lmer", coding = vs_coding(...), control = vs_fit_control())
#
# returns list(tidy = <fixed effects>, random = <variance components>, glance = <one row>,
#              coding = <contrast values, long>). Convergence and singular-fit messages are data in
# glance$messages, never printed. Plain functions; sourcing this file has no side effects.

vs_fit_methods <- c("lm", "lmer")

vs_quote_list <- function(x, max_shown = 20L) {
  shown <- paste(sprintf("'%s'", utils::head(x, max_shown)), collapse = ", ")
  if (length(x) > max_shown) shown <- sprintf("%s, ... (%d in all)", shown, length(x))
  shown
}
vs_ddf_methods <- c("Satterthwaite", "Kenward-Roger")
vs_coding_schemes <- c("half_sum", "contr_sum", "treatment")

# lmerTest asks requireNamespace("pbkrtest", quietly = TRUE) and hides why loading failed; say it.
vs_need_pbkrtest <- function() {
  loaded <- tryCatch({ loadNamespace("pbkrtest"); TRUE }, error = function(e) conditionMessage(e))
  if (!isTRUE(loaded)) {
    stop("Kenward-Roger df need the R package pbkrtest (Debian: r-cran-pbkrtest), which did not load: ",
         gsub("\\s+", " ", loaded), call. = FALSE)
  }
  invisible(TRUE)
}

vs_fit_control <- function(ddf = "Satterthwaite", REML = TRUE, conf_level = 0.95,
                           optimizer = "bobyqa", calc_derivs = TRUE, ...) {
  extra <- list(...)
  if (length(extra)) {
    warning("vs_fit_control: ignoring unknown arguments: ", paste(names(extra), collapse = ", "))
  }
  if (!ddf %in% vs_ddf_methods) {
    stop(sprintf("ddf must be one of %s, not '%s'",
                 paste(sprintf("'%s'", vs_ddf_methods), collapse = ", "), ddf), call. = FALSE)
  }
  if (!is.numeric(conf_level) || conf_level <= 0 || conf_level >= 1) {
    stop("conf_level must be a number strictly between 0 and 1", call. = FALSE)
  }
  if (ddf == "Kenward-Roger") vs_need_pbkrtest()
  list(ddf = ddf, REML = isTRUE(REML), conf_level = conf_level, optimizer = optimizer,
       calc_derivs = isTRUE(calc_derivs))
}

# One row per coded variable: scheme is half_sum (two levels, positive level = +0.5, the other -0.5),
# contr_sum (R's contr.sum: the last level is the reference, -1 in every column) or treatment
# (reference level = 0). Code column names are syntactic (make.names), so that a term such as
# "origincompany.Mistral.AI" can be named in formulas and split at ":".
vs_coding <- function(variable = character(), scheme = character(), level = character()) {
  data.frame(variable = as.character(variable), scheme = as.character(scheme),
             level = as.character(level), stringsAsFactors = FALSE)
}

vs_contrast_matrix <- function(x, variable, scheme, level) {
  lv <- levels(x)
  if (!scheme %in% vs_coding_schemes) {
    stop(sprintf("coding scheme for '%s' must be one of %s, not '%s'", variable,
                 paste(sprintf("'%s'", vs_coding_schemes), collapse = ", "), scheme), call. = FALSE)
  }
  if (scheme != "contr_sum" && !level %in% lv) {
    stop(sprintf("level '%s' of '%s' not found; levels are: %s", level, variable, vs_quote_list(lv)),
         call. = FALSE)
  }
  if (scheme == "half_sum") {
    if (length(lv) != 2) {
      stop(sprintf("half_sum coding needs exactly 2 levels of '%s', found %d: %s", variable,
                   length(lv), vs_quote_list(lv)), call. = FALSE)
    }
    cm <- matrix(ifelse(lv == level, 0.5, -0.5), ncol = 1, dimnames = list(lv, make.names(level)))
  } else if (scheme == "contr_sum") {
    cm <- stats::contr.sum(length(lv))
    dimnames(cm) <- list(lv, make.names(lv[-length(lv)]))
  } else {
    cm <- stats::contr.treatment(length(lv), base = match(level, lv))
    dimnames(cm) <- list(lv, lv[-match(level, lv)])
  }
  cm
}

vs_apply_coding <- function(data, coding) {
  long <- list()
  if (is.null(coding) || nrow(coding) == 0) return(list(data = data, coding = vs_coding_long(long)))
  coding[] <- lapply(coding, as.character)  # factors would index columns by their integer codes
  for (i in seq_len(nrow(coding))) {
    variable <- coding$variable[i]
    if (!variable %in% names(data)) {
      stop(sprintf("coding names column '%s', which is not in the data; columns are: %s", variable,
                   vs_quote_list(names(data), 40L)), call. = FALSE)
    }
    x <- data[[variable]]
    if (!is.factor(x)) x <- factor(x)
    x <- droplevels(x)
    cm <- vs_contrast_matrix(x, variable, coding$scheme[i], coding$level[i])
    stats::contrasts(x, how.many = ncol(cm)) <- cm
    data[[variable]] <- x
    long[[length(long) + 1]] <- data.frame(
      variable = variable, scheme = coding$scheme[i],
      level = rep(rownames(cm), times = ncol(cm)), contrast = rep(colnames(cm), each = nrow(cm)),
      value = as.vector(cm), stringsAsFactors = FALSE)
  }
  list(data = data, coding = vs_coding_long(long))
}

vs_coding_long <- function(parts) {
  if (!length(parts)) {
    return(data.frame(variable = character(), scheme = character(), level = character(),
                      contrast = character(), value = numeric(), stringsAsFactors = FALSE))
  }
  do.call(rbind, parts)
}

vs_check_columns <- function(formula, data) {
  needed <- all.vars(formula)
  missing <- setdiff(needed, names(data))
  if (length(missing)) {
    stop(sprintf("formula uses column(s) not in the data: %s; columns are: %s",
                 paste(missing, collapse = ", "), vs_quote_list(names(data), 40L)), call. = FALSE)
  }
}

vs_parse_formula <- function(formula) {
  if (inherits(formula, "formula")) return(formula)
  parsed <- tryCatch(stats::as.formula(formula), error = function(e) {
    stop(sprintf("cannot parse formula '%s': %s", formula, conditionMessage(e)), call. = FALSE)
  })
  if (length(parsed) != 3) stop(sprintf("formula '%s' has no response (left-hand side)", formula),
                                call. = FALSE)
  parsed
}

# Evaluate expr, collecting warnings and messages as text instead of printing them.
vs_collect <- function(expr) {
  notes <- character()
  value <- withCallingHandlers(expr,
    warning = function(w) { notes <<- c(notes, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { notes <<- c(notes, trimws(conditionMessage(m))); invokeRestart("muffleMessage") })
  list(value = value, notes = notes)
}

vs_fit <- function(formula, data, method = "lmer", coding = NULL, control = vs_fit_control()) {
  if (!method %in% vs_fit_methods) {
    stop(sprintf("method must be one of %s, not '%s'",
                 paste(sprintf("'%s'", vs_fit_methods), collapse = ", "), method), call. = FALSE)
  }
  formula <- vs_parse_formula(formula)
  vs_check_columns(formula, data)
  coded <- vs_apply_coding(data, coding)
  fitter <- if (method == "lm") vs_fit_lm else vs_fit_lmer
  out <- fitter(formula, coded$data, control)
  out$coding <- coded$coding
  out$inference <- NULL  # matrices and model objects stay in R
  out$object <- NULL
  out
}

vs_tidy_table <- function(term, estimate, std_error, df, statistic, p_value, conf_level) {
  q <- stats::qt(1 - (1 - conf_level) / 2, df)
  data.frame(term = term, estimate = estimate, std_error = std_error, df = df,
             statistic = statistic, p_value = p_value,
             conf_low = estimate - q * std_error, conf_high = estimate + q * std_error,
             stringsAsFactors = FALSE, row.names = NULL)
}

vs_fit_lm <- function(formula, data, control, weights = NULL) {
  run <- if (is.null(weights)) vs_collect(stats::lm(formula, data = data)) else {
    data$.weight <- weights
    vs_collect(stats::lm(formula, data = data, weights = .weight))
  }
  fit <- run$value
  co <- summary(fit)$coefficients
  tidy <- vs_tidy_table(rownames(co), co[, 1], co[, 2], rep(fit$df.residual, nrow(co)), co[, 3], co[, 4],
                        control$conf_level)
  ll <- stats::logLik(fit)
  glance <- data.frame(method = "lm", nobs = stats::nobs(fit), sigma = summary(fit)$sigma,
                       logLik = as.numeric(ll), AIC = stats::AIC(fit), BIC = stats::BIC(fit),
                       deviance = stats::deviance(fit), df_residual = fit$df.residual, REML = FALSE,
                       optimizer = "QR", ddf = "residual", singular = FALSE,
                       messages = paste(run$notes, collapse = " | "), stringsAsFactors = FALSE)
  random <- data.frame(group = "Residual", term = "sd__Observation", estimate = summary(fit)$sigma,
                       stringsAsFactors = FALSE)
  inference <- list(kind = "lm", beta = stats::coef(fit), vcov_beta = stats::vcov(fit), df = fit$df.residual)
  list(tidy = tidy, random = random, glance = glance, inference = inference, object = fit)
}

# One lme4 fit (lme4::lmer, no Satterthwaite yet): what the simplification needs.
vs_lme4_fit_core <- function(formula, data, control) {
  if (is.null(lme4::findbars(formula))) {
    stop("lmer needs at least one random-effect term such as (1 | participant)", call. = FALSE)
  }
  lctrl <- lme4::lmerControl(optimizer = control$optimizer, calc.derivs = control$calc_derivs)
  run <- vs_collect(lme4::lmer(formula, data = data, REML = control$REML, control = lctrl))
  fit <- run$value
  notes <- unique(c(run$notes, fit@optinfo$conv$lme4$messages))
  singular <- lme4::isSingular(fit)
  if (singular && !any(grepl("singular", notes))) notes <- c(notes, "boundary (singular) fit")
  conv_code <- fit@optinfo$conv$lme4$code
  converged <- fit@optinfo$conv$opt == 0 && (is.null(conv_code) || all(conv_code == 0)) &&
    !any(grepl("failed to converge|convergence code", notes))
  vc <- lme4::VarCorr(fit)
  components <- do.call(rbind, lapply(seq_along(fit@cnms), function(i) {
    data.frame(group = names(fit@cnms)[i], component = fit@cnms[[i]],
               sd = unname(attr(vc[[i]], "stddev")), stringsAsFactors = FALSE)
  }))
  ll <- as.numeric(stats::logLik(fit))
  attempt <- list(engine = "lme4", optimizer = control$optimizer, sigma = stats::sigma(fit),
                  converged = converged,
                  singular = singular, logLik = ll, AIC = stats::AIC(fit), messages = notes,
                  beta = lme4::fixef(fit), vcov_beta_approx = as.matrix(stats::vcov(fit)),
                  components = components)
  attempt$finish <- function() {
    devfun <- lme4::lmer(formula, data = data, REML = control$REML, control = lctrl, devFunOnly = TRUE)
    vs_lme4_finish(fit, devfun, notes, singular, converged, control)
  }
  attempt
}

vs_lme4_finish <- function(fit, devfun, notes, singular, converged, control) {
  # what lmerTest::lmer does after fitting (its devfun comes from the same lFormula)
  lt <- vs_collect(utils::getFromNamespace("as_lmerModLT", "lmerTest")(fit, devfun))
  fit <- lt$value
  if (!inherits(fit, "lmerModLmerTest")) {
    stop("lmerTest could not compute the degrees of freedom: ", paste(lt$notes, collapse = " | "),
         call. = FALSE)
  }
  ddf <- if (control$ddf == "Kenward-Roger") "Kenward-Roger" else "Satterthwaite"
  sm <- vs_collect(summary(fit, ddf = ddf))
  co <- sm$value$coefficients
  tidy <- vs_tidy_table(rownames(co), co[, "Estimate"], co[, "Std. Error"], co[, "df"], co[, "t value"],
                        co[, "Pr(>|t|)"], control$conf_level)
  notes <- unique(c(notes, lt$notes, sm$notes))
  ll <- stats::logLik(fit)
  ngrps <- lme4::ngrps(fit)
  glance <- data.frame(method = "lmer", nobs = stats::nobs(fit), sigma = stats::sigma(fit),
                       logLik = as.numeric(ll), AIC = stats::AIC(fit), BIC = stats::BIC(fit),
                       deviance = if (control$REML) lme4::REMLcrit(fit) else stats::deviance(fit),
                       df_residual = stats::df.residual(fit), REML = control$REML,
                       optimizer = control$optimizer, ddf = ddf, singular = singular,
                       messages = paste(notes, collapse = " | "), stringsAsFactors = FALSE)
  for (g in names(ngrps)) glance[[paste0("n_", g)]] <- as.integer(ngrps[[g]])
  vc <- as.data.frame(lme4::VarCorr(fit))
  term <- ifelse(is.na(vc$var2), paste0("sd__", vc$var1), paste0("cor__", vc$var1, ".", vc$var2))
  term[vc$grp == "Residual"] <- "sd__Observation"
  random <- data.frame(group = vc$grp, term = term, estimate = vc$sdcor, stringsAsFactors = FALSE)
  inference <- if (ddf == "Kenward-Roger") {
    list(kind = "kenward_roger", beta = lme4::fixef(fit), vcov_beta = as.matrix(stats::vcov(fit)), fit = fit)
  } else {
    list(kind = "satterthwaite", beta = lme4::fixef(fit), vcov_beta = fit@vcov_beta,
         vcov_varpar = fit@vcov_varpar, jac_list = fit@Jac_list)
  }
  list(tidy = tidy, random = random, glance = glance, inference = inference, engine = "lme4",
       converged = converged, object = fit)
}

vs_fit_lmer <- function(formula, data, control) {
  out <- vs_lme4_fit_core(formula, data, control)$finish()
  out[c("tidy", "random", "glance", "inference")]
}

# Rscript entry point for golden tests and the overhead benchmark:
#   Rscript R/fit.R data.csv "formula" method coding.csv out_prefix
# Only runs when this file is the script being executed, so source() stays side-effect free.
vs_fit_main <- function(args) {
  data <- data.table::fread(args[[1]], data.table = FALSE, stringsAsFactors = TRUE)
  coding <- if (length(args) >= 4 && nzchar(args[[4]]) && file.exists(args[[4]])) {
    utils::read.csv(args[[4]], stringsAsFactors = FALSE, colClasses = "character")
  } else NULL
  out <- vs_fit(args[[2]], data, method = args[[3]], coding = coding)
  prefix <- args[[5]]
  for (part in c("tidy", "random", "glance")) {
    utils::write.csv(out[[part]], paste0(prefix, "_", part, ".csv"), row.names = FALSE)
  }
  invisible(out)
}

if (sys.nframe() == 0L && !interactive()) {
  vs_args <- commandArgs(trailingOnly = TRUE)
  if (length(vs_args) >= 5) {
    suppressPackageStartupMessages({ library(lme4); library(lmerTest) })
    vs_fit_main(vs_args)
  }
}

# Tests of linear combinations L %*% beta (one row of L per contrast) from a fit's inference object:
# lmerTest's Satterthwaite df (contest1D), Kenward-Roger through lmerTest, or lm's residual df.
vs_contrast_rows <- function(inference, L, names, conf_level = 0.95) {
  L <- matrix(L, ncol = length(inference$beta))
  est <- drop(L %*% inference$beta)
  var_con <- rowSums((L %*% inference$vcov_beta) * L)
  df <- switch(inference$kind,
    lm = rep(inference$df, nrow(L)),
    satterthwaite = vapply(seq_len(nrow(L)), function(i) {
      l <- L[i, ]
      grad <- vapply(inference$jac_list, function(J) sum(l * (J %*% l)), 0)
      2 * var_con[i]^2 / sum(grad * (inference$vcov_varpar %*% grad))
    }, 0),
    kenward_roger = vapply(seq_len(nrow(L)), function(i) {
      lmerTest::contest1D(inference$fit, L[i, ], ddf = "Kenward-Roger")$df
    }, 0),
    stop(sprintf("unknown inference kind '%s'", inference$kind), call. = FALSE))
  if (inference$kind == "kenward_roger") {
    var_con <- vapply(seq_len(nrow(L)), function(i) {
      lmerTest::contest1D(inference$fit, L[i, ], ddf = "Kenward-Roger")$`Std. Error`^2
    }, 0)
  }
  se <- sqrt(var_con)
  statistic <- est / se
  vs_tidy_table(names, est, se, df, statistic, 2 * stats::pt(abs(statistic), df, lower.tail = FALSE),
                conf_level)
}
