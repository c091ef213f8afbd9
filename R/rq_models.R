# The paper's models (seed 001, RQ1-RQ3) and the inference a reviewer accepts beside them.
#
#   rq_fit(data, "rq1", instrument = "mfq2", control = rq_control())
#     -> list(tidy, random, glance, coding, simplification, simple_effects)
#
# Fits (the `model` column of every table):
#   lm          exactly as published: OLS, every person x LLM pair an independent row;
#   lm_weighted the same with each person's survey weight on their rows (when weights are requested);
#   lmer        the recommended mixed model: fixed effects as the paper (RQ2 adds the nationality and
#               origin main effects, which an unbalanced panel otherwise leaves to origin congruence),
#               random effects the design justifies (rq_maximal) or the study's choice, simplified by
#               the recorded sequence of R/structures.R, lmerTest Satterthwaite df;
#   two_stage   the design-based check: per-model contrasts of the nationality means, then OLS across
#               the models (df = models - 2). Its estimates equal lm's in a complete crossing.
#
# RQ3's mixed model, `maximal`: each removal level X is its own model on the within-pair differences
# d = cosine(X) - cosine(none). The participant x model pair effect of the full model cancels exactly;
# the coefficients of d ~ nationality * origin are the full treatment-coded model's removedX,
# nationalityCN:removedX, originCN:removedX and nationalityCN:originCN:removedX (identical for lm), and
# each contrast gets the RQ1 design's random effects. The terms of level none come from the RQ1 model
# on RQ3's none rows. `intercepts` and user terms fit the full model on every row instead.
#
# Coding (stated once, here): nationality and origin in the study's level order (the reference, the
# study's last country, last; control$levels, from similarity/rq_settings.csv): with two levels
# half-sum coded, the first level = +0.5 and the second -0.5 (the paper: China = +0.5, USA = -0.5;
# RQ1, RQ3, and the RQ2 mixed model); with more, sum contrasts, one column per level but the
# reference (+1 at that level, -1 at the reference, 0 elsewhere). Congruence with the participant's
# country, congruent ("yes") = +0.5 (RQ2): the prompt language with the language the participant's
# country is paired with (the participant_language column, the study's pairing as data), the
# persona's country and the LLM's origin with the participant's country; removed treatment coded,
# "none" = 0 (RQ3). Random-effect terms use the numeric codes: nationality<level>, origin<level>
# (nationalityCN, originCN in the paper), language_congruentyes, persona_congruentyes,
# origin_congruentyes. Plain functions: sourcing has no side effects.

rq_analyses <- c("rq1", "rq2", "rq3")
rq_fit_kinds <- c("lm", "lmer", "two_stage")

rq_control <- function(fits = c("lm", "lmer", "two_stage"), ddf = "Satterthwaite", random = "maximal",
                       weighted = FALSE, conf_level = 0.95, nationality_levels = NULL, origin_levels = NULL,
                       ...) {
  extra <- list(...)
  if (length(extra)) warning("rq_control: ignoring unknown arguments: ", paste(names(extra), collapse = ", "))
  bad <- setdiff(fits, rq_fit_kinds)
  if (length(bad)) {
    stop(sprintf("fits must be among %s, not %s", paste(sprintf("'%s'", rq_fit_kinds), collapse = ", "),
                 paste(sprintf("'%s'", bad), collapse = ", ")), call. = FALSE)
  }
  list(fits = as.character(fits), random = as.character(random), weighted = isTRUE(weighted),
       fit = vs_fit_control(ddf = ddf, conf_level = conf_level),
       levels = list(nationality = rq_split_levels(nationality_levels), origin = rq_split_levels(origin_levels)))
}

# Levels as a character vector; "CN;US" (how rq_settings.csv stores them) is split.
rq_split_levels <- function(x) {
  if (is.null(x) || !length(x) || all(is.na(x))) return(NULL)
  x <- as.character(x)
  if (length(x) == 1) x <- strsplit(x, ";", fixed = TRUE)[[1]]
  x[nzchar(x)]
}

# The code matrix of a factor with these levels (rows: levels; columns: its code columns): two levels
# half-sum (first +0.5, second -0.5), more sum contrasts with the last level as the reference.
rq_code_matrix <- function(levels) {
  if (length(levels) < 2) stop(sprintf("a factor needs at least 2 levels, found %d", length(levels)), call. = FALSE)
  if (length(levels) == 2) {
    return(matrix(c(0.5, -0.5), ncol = 1, dimnames = list(levels, make.names(levels[1]))))
  }
  cm <- stats::contr.sum(length(levels))
  dimnames(cm) <- list(levels, make.names(levels[-length(levels)]))
  cm
}

rq_code_names <- function(variable, levels) paste0(variable, colnames(rq_code_matrix(levels)))

# The levels of nationality and origin of prepared data (factors in the study's order).
rq_lv <- function(data) list(nationality = levels(data$nationality), origin = levels(data$origin))

rq_order_levels <- function(x, given, variable) {
  present <- unique(as.character(x))
  if (is.null(given)) return(sort(present))
  unknown <- setdiff(present, given)
  if (length(unknown)) {
    stop(sprintf("%s has level(s) %s that the study's levels (%s) lack", variable,
                 paste(unknown, collapse = ", "), paste(given, collapse = ", ")), call. = FALSE)
  }
  given[given %in% present]
}

rq_check_analysis <- function(analysis) {
  if (!analysis %in% rq_analyses) {
    stop(sprintf("analysis must be one of %s, not '%s'",
                 paste(sprintf("'%s'", rq_analyses), collapse = ", "), analysis), call. = FALSE)
  }
}

# The paper's fixed effects (lm, two_stage); `fit = "lmer"` gives the mixed model's.
rq_fixed <- function(analysis, fit = "lm") {
  rq_check_analysis(analysis)
  paper <- switch(analysis,
    rq1 = "cosine ~ nationality * origin",
    rq2 = "cosine ~ language_congruent * persona_congruent * origin_congruent",
    rq3 = "cosine ~ nationality * origin * removed")
  if (analysis == "rq2" && fit == "lmer") paste(paper, "+ nationality + origin") else paper
}

# half_sum (positive level = the first) for two levels, contr_sum (reference = the last) for more.
rq_factor_coding <- function(lv, variables = c("nationality", "origin")) {
  two <- vapply(variables, function(v) length(lv[[v]]) == 2, TRUE)
  level <- vapply(variables, function(v) if (two[[v]]) lv[[v]][1] else lv[[v]][length(lv[[v]])], "")
  vs_coding(variables, ifelse(two, "half_sum", "contr_sum"), unname(level))
}

rq_coding <- function(analysis, fit = "lm", lv) {
  rq_check_analysis(analysis)
  congruence <- vs_coding(c("language_congruent", "persona_congruent", "origin_congruent"), rep("half_sum", 3),
                          rep("yes", 3))
  switch(analysis,
    rq1 = rq_factor_coding(lv),
    rq2 = if (fit == "lmer") rbind(congruence, rq_factor_coding(lv)) else congruence,
    rq3 = rbind(rq_factor_coding(lv), vs_coding("removed", "treatment", "none")))
}

# Factor -> its numeric code column(s) in random-effect terms.
rq_codes <- function(lv) {
  list(nationality = rq_code_names("nationality", lv$nationality), origin = rq_code_names("origin", lv$origin),
       language_congruent = "language_congruentyes", persona_congruent = "persona_congruentyes",
       origin_congruent = "origin_congruentyes")
}

rq_columns <- function(analysis) {
  base <- c("participant", "nationality", "model", "origin", "language", "persona")
  switch(analysis, rq1 = base, rq2 = c(base, "language_congruent", "persona_congruent", "origin_congruent"),
         rq3 = c(base, "removed"))
}

# The maximal structure the design justifies (see the module comment and docs/study-yaml.md).
rq_maximal <- function(analysis, lv) {
  rq_check_analysis(analysis)
  nat <- rq_code_names("nationality", lv$nationality)
  if (analysis == "rq2") {
    congruence <- c("language_congruentyes", "persona_congruentyes", "origin_congruentyes")
    # By-participant slopes for the three congruence factors, not for their interactions: an 8 x 8
    # person covariance (36 parameters) did not converge in 10,000 bobyqa evaluations on a simulated
    # panel of the paper's size, so the maximal structure the design supports stops at 4 x 4.
    return(list(vs_re_term("participant", c("(Intercept)", congruence)),
                vs_re_term("model", c("(Intercept)", nat)),
                vs_re_term("model:language:persona", c("(Intercept)", nat))))
  }
  list(vs_re_term("participant", c("(Intercept)", rq_code_names("origin", lv$origin))),
       vs_re_term("model", c("(Intercept)", nat)))
}

rq_intercepts <- function(analysis) {
  list(vs_re_term("participant", "(Intercept)"), vs_re_term("model", "(Intercept)"))
}

# The structure a study asks for: "maximal", "intercepts" or lme4 terms; errors name the setting.
rq_structure <- function(analysis, choice, what = sprintf("random effects for %s", analysis), lv) {
  rq_check_analysis(analysis)
  if (identical(choice, "maximal")) return(rq_maximal(analysis, lv))
  if (identical(choice, "intercepts")) return(rq_intercepts(analysis))
  if (!grepl("|", choice, fixed = TRUE)) {
    stop(sprintf("%s: '%s' is not a choice; use 'maximal', 'intercepts' or lme4 terms such as (1 + nationality | model) + (1 | participant)",
                 what, choice), call. = FALSE)
  }
  vs_re_parse(choice, rq_columns(analysis), rq_codes(lv), what = what)
}

rq_require <- function(data, columns, analysis) {
  missing <- setdiff(columns, names(data))
  if (length(missing)) {
    stop(sprintf("%s data lack column(s) %s; columns are: %s", analysis, paste(missing, collapse = ", "),
                 paste(names(data), collapse = ", ")), call. = FALSE)
  }
}

rq_add_codes <- function(data, variable, levels) {
  cm <- rq_code_matrix(levels)
  at <- match(as.character(data[[variable]]), levels)
  for (j in seq_len(ncol(cm))) data[[paste0(variable, colnames(cm)[j])]] <- unname(cm[at, j])
  data
}

# Order nationality and origin by the study's levels (control$levels; sorted without them), add the
# columns an analysis codes (congruence factors for RQ2, from the participant_language column: the
# prompt language the participant's country is paired with; removed with "none" first for RQ3) and
# the numeric codes random-effect terms use.
rq_prepare <- function(data, analysis, control = rq_control()) {
  rq_check_analysis(analysis)
  rq_require(data, c("cosine", "participant", "model", "nationality", "origin"), analysis)
  data <- as.data.frame(data)
  data$participant <- factor(data$participant)
  data$model <- factor(data$model)
  for (v in c("nationality", "origin")) {
    given <- control$levels[[v]]
    data[[v]] <- factor(as.character(data[[v]]), levels = rq_order_levels(data[[v]], given, v))
    if (nlevels(data[[v]]) < 2) stop(sprintf("%s: %s needs at least 2 levels", analysis, v), call. = FALSE)
    data <- rq_add_codes(data, v, levels(data[[v]]))
  }
  if (analysis == "rq2") {
    rq_require(data, c("language", "persona", "participant_language"), analysis)
    nat <- as.character(data$nationality)
    yes_no <- function(x) factor(ifelse(x, "yes", "no"), levels = c("no", "yes"))
    data$language_congruent <- yes_no(as.character(data$language) == as.character(data$participant_language))
    data$persona_congruent <- yes_no(toupper(as.character(data$persona)) == nat)
    data$origin_congruent <- yes_no(as.character(data$origin) == nat)
    for (v in c("language_congruent", "persona_congruent", "origin_congruent")) {
      data[[paste0(v, "yes")]] <- ifelse(as.character(data[[v]]) == "yes", 0.5, -0.5)
    }
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
rq_design_matrix <- function(data, analysis, nationality_levels = NULL, origin_levels = NULL) {
  prepared <- rq_prepare(data, analysis, rq_control(nationality_levels = nationality_levels,
                                                    origin_levels = origin_levels))
  coded <- vs_apply_coding(prepared, rq_coding(analysis, "lm", rq_lv(prepared)))$data
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

# R's names of the fixed effects (model.matrix order: in an interaction the first factor varies
# fastest) without building a model matrix.
rq_terms <- function(analysis, fit = "lm", removed_levels = character(), lv) {
  cross <- function(...) Reduce(function(a, b) as.vector(outer(a, b, paste, sep = ":")), list(...))
  nat <- rq_code_names("nationality", lv$nationality)
  org <- rq_code_names("origin", lv$origin)
  if (analysis == "rq1") return(c("(Intercept)", nat, org, cross(nat, org)))
  if (analysis == "rq2") {
    lc <- "language_congruentyes"; pc <- "persona_congruentyes"; oc <- "origin_congruentyes"
    main <- c("(Intercept)", lc, pc, oc, if (fit == "lmer") c(nat, org))
    return(c(main, paste(lc, pc, sep = ":"), paste(lc, oc, sep = ":"), paste(pc, oc, sep = ":"),
             paste(lc, pc, oc, sep = ":")))
  }
  r <- paste0("removed", setdiff(removed_levels, "none"))
  c("(Intercept)", nat, org, r, cross(nat, org), cross(nat, r), cross(org, r), cross(nat, org, r))
}

# The RQ1 design matrix (intercept, nationality codes, origin codes, their products), in rq_terms order.
rq_rq1_matrix <- function(data, lv) {
  nat <- as.matrix(data[, rq_code_names("nationality", lv$nationality), drop = FALSE])
  org <- as.matrix(data[, rq_code_names("origin", lv$origin), drop = FALSE])
  inter <- do.call(cbind, lapply(seq_len(ncol(org)), function(j) nat * org[, j]))
  X <- cbind(1, nat, org, inter)
  colnames(X) <- rq_terms("rq1", lv = lv)
  X
}

rq_spec <- function(analysis, full_rq3 = FALSE) {
  columns <- switch(analysis, rq1 = "model", rq2 = c("model", "language", "persona"),
                    rq3 = if (full_rq3) c("model", "removed") else "model")
  vs_crossed_spec("participant", "nationality", columns)
}

# ------------------------------------------------------------------------------------------- lm

rq_fit_lm <- function(data, analysis, control, weighted) {
  coded <- vs_apply_coding(data, rq_coding(analysis, "lm", rq_lv(data)))
  weights <- if (weighted) data$weight else NULL
  out <- if (analysis == "rq3") rq_lm_by_level(coded$data, weights, control$fit$conf_level) else
    vs_fit_lm(vs_parse_formula(rq_fixed(analysis)), coded$data, control$fit, weights = weights)
  out$coding <- coded$coding
  out
}

# The full RQ3 lm (nationality * origin * removed, treatment coded) is block diagonal in the removal
# levels: each level's four coefficients are that level's own OLS fit, with one pooled residual
# variance. Computed level by level it is exactly lm() (tests compare) without the N x 4L model matrix.
rq_lm_by_level <- function(data, weights, conf_level) {
  levels_removed <- levels(data$removed)
  factor_levels <- rq_lv(data)
  base <- rq_terms("rq1", lv = factor_levels)
  q <- length(base)
  X_all <- rq_rq1_matrix(data, factor_levels)
  fits <- list(); rss <- 0; n <- 0; sum_log_w <- 0
  for (lv in levels_removed) {
    rows <- which(data$removed == lv)
    X <- X_all[rows, , drop = FALSE]
    y <- data$cosine[rows]
    w <- if (is.null(weights)) rep(1, length(rows)) else weights[rows]
    qx <- qr(X * sqrt(w))
    if (qx$rank < q) stop(sprintf("rq3 lm: removal level '%s' cannot estimate all %d effects", lv, q), call. = FALSE)
    beta <- qr.coef(qx, y * sqrt(w))
    res <- y - drop(X %*% beta)
    rss <- rss + sum(w * res^2); n <- n + length(rows); sum_log_w <- sum_log_w + sum(log(w))
    fits[[lv]] <- list(beta = beta, unscaled = chol2inv(qr.R(qx)))
  }
  L <- length(levels_removed); p <- q * L
  df <- n - p
  sigma2 <- rss / df
  full_names <- rq_terms("rq3", removed_levels = levels_removed, lv = factor_levels)
  # each full coefficient as a combination of the level coefficients (none, then each level)
  A <- matrix(0, length(full_names), p, dimnames = list(full_names, NULL))
  for (k in seq_along(full_names)) {
    parts <- strsplit(full_names[k], ":", fixed = TRUE)[[1]]
    rem <- grep("^removed", parts, value = TRUE)
    rest <- setdiff(parts, rem)
    b <- match(if (length(rest)) paste(rest, collapse = ":") else "(Intercept)", base)
    if (!length(rem)) {
      A[k, b] <- 1
    } else {
      l <- match(sub("^removed", "", rem), levels_removed)
      A[k, (l - 1L) * q + b] <- 1
      A[k, b] <- -1
    }
  }
  beta_all <- unlist(lapply(levels_removed, function(lv) fits[[lv]]$beta))
  cov_all <- matrix(0, p, p)
  for (l in seq_len(L)) {
    idx <- (l - 1L) * q + seq_len(q)
    cov_all[idx, idx] <- sigma2 * fits[[levels_removed[l]]]$unscaled
  }
  est <- drop(A %*% beta_all)
  vcov_beta <- A %*% cov_all %*% t(A)
  se <- sqrt(diag(vcov_beta))
  t <- est / se
  tidy <- vs_tidy_table(full_names, est, se, rep(df, length(est)), t, 2 * stats::pt(abs(t), df, lower.tail = FALSE),
                        conf_level)
  ll <- 0.5 * (sum_log_w - n * (log(2 * pi) + 1 - log(n) + log(rss)))
  glance <- data.frame(method = "lm", nobs = n, sigma = sqrt(sigma2), logLik = ll,
                       AIC = -2 * ll + 2 * (p + 1), BIC = -2 * ll + log(n) * (p + 1), deviance = rss,
                       df_residual = df, REML = FALSE, optimizer = "QR", ddf = "residual", singular = FALSE,
                       messages = "", stringsAsFactors = FALSE)
  random <- data.frame(group = "Residual", term = "sd__Observation", estimate = sqrt(sigma2),
                       stringsAsFactors = FALSE)
  dimnames(vcov_beta) <- list(full_names, full_names)
  list(tidy = tidy, random = random, glance = glance,
       inference = list(kind = "lm", beta = stats::setNames(est, full_names), vcov_beta = vcov_beta, df = df))
}

# ----------------------------------------------------------------------------------------- lmer

rq_rq3_levels <- function(data) {
  pid <- match(as.character(data$participant), unique(as.character(data$participant)))
  mid <- match(as.character(data$model), unique(as.character(data$model)))
  key <- (pid - 1) * max(mid) + mid
  lev <- as.character(data$removed)
  none <- lev == "none"
  base <- data[none, , drop = FALSE]
  base_key <- key[none]
  out <- list()
  for (lv in setdiff(levels(data$removed), "none")) {
    rows <- which(lev == lv)
    at <- match(key[rows], base_key)
    if (anyNA(at) || length(rows) != length(base_key)) {
      stop(sprintf("rq3: removal level '%s' does not have exactly the person x model pairs of level 'none'", lv),
           call. = FALSE)
    }
    d <- data[rows, , drop = FALSE]
    d$cosine <- d$cosine - base$cosine[at]
    out[[lv]] <- d
  }
  list(none = base, levels = out)
}

rq_random_label <- function(structure) {
  text <- vs_re_render(structure)
  if (nzchar(text)) text else "(none)"
}

# One mixed fit with its simplification record; NULL fit when nothing is supported.
rq_mixed_one <- function(data, fixed, coding, structure, spec, control, level) {
  coded <- vs_apply_coding(data, coding)
  started <- proc.time()[["elapsed"]]
  out <- vs_fit_mixed(fixed, structure, coded$data, spec, control$fit)
  record <- cbind(level = level, requested = rq_random_label(structure), out$record)
  if (is.null(out$fit)) return(list(record = record, coding = coded$coding))
  done <- out$fit$finish()
  done$glance$level <- level
  done$glance$seconds <- proc.time()[["elapsed"]] - started
  done$glance$formula <- vs_re_formula(fixed, out$structure)
  done$glance$random_requested <- rq_random_label(structure)
  done$glance$random_final <- rq_random_label(out$structure)
  done$glance$engine <- done$engine
  done$glance$converged <- done$converged
  done$random <- cbind(level = level, done$random)
  done$record <- record
  done$coding <- coded$coding
  done$structure <- out$structure
  done
}

rq_fit_lmer <- function(data, analysis, control) {
  lv <- rq_lv(data)
  requested <- rq_structure(analysis, control$random, lv = lv)
  if (analysis == "rq3" && identical(control$random, "maximal")) return(rq_fit_rq3_differences(data, control))
  rq_mixed_one(data, rq_fixed(analysis, "lmer"), rq_coding(analysis, "lmer", lv), requested,
               rq_spec(analysis, full_rq3 = TRUE), control, level = "")
}

# RQ1 term -> its RQ3 term at a removal level (the intercept -> removed<level>).
rq_level_terms <- function(level, lv) {
  base <- rq_terms("rq1", lv = lv)
  stats::setNames(c(paste0("removed", level), paste0(base[-1], ":removed", level)), base)
}

rq_fit_rq3_differences <- function(data, control) {
  split <- rq_rq3_levels(data)
  lv <- rq_lv(data)
  fixed <- rq_fixed("rq1")
  coding <- rq_coding("rq1", "lm", lv)
  structure <- rq_maximal("rq3", lv)
  spec <- rq_spec("rq3")
  fits <- list(none = rq_mixed_one(split$none, fixed, coding, structure, spec, control, "none"))
  for (level in names(split$levels)) {
    fits[[level]] <- rq_mixed_one(split$levels[[level]], fixed, coding, structure, spec, control, level)
  }
  records <- do.call(rbind, lapply(fits, `[[`, "record"))
  full_names <- rq_terms("rq3", removed_levels = levels(data$removed), lv = lv)
  tidy <- list(); glance <- list(); random <- list()
  for (level in names(fits)) {
    f <- fits[[level]]
    if (is.null(f$tidy)) next
    part <- f$tidy
    if (level != "none") part$term <- unname(rq_level_terms(level, lv)[part$term])
    tidy[[level]] <- part
    glance[[level]] <- f$glance
    random[[level]] <- f$random
  }
  tidy <- if (length(tidy)) do.call(rbind, tidy) else NULL
  if (!is.null(tidy)) {
    tidy <- tidy[order(match(tidy$term, full_names)), , drop = FALSE]
    rownames(tidy) <- NULL
  }
  list(tidy = tidy, glance = rq_bind(glance), random = rq_bind(random), record = records,
       coding = vs_apply_coding(data, rq_coding("rq3", "lm", lv))$coding, differences = TRUE,
       final = vapply(fits, function(f) rq_random_label(f$structure %||% list()), ""))
}

`%||%` <- function(a, b) if (is.null(a)) b else a

# ------------------------------------------------------------------------------------ two-stage

# Weighted (or plain) mean of the response per model x nationality (x condition) cell.
rq_cell_means <- function(data, keys, weighted) {
  w <- if (weighted) data$weight else rep(1, nrow(data))
  key <- do.call(paste, c(lapply(keys, function(k) as.character(data[[k]])), sep = "\r"))
  sums <- rowsum(cbind(w * data$cosine, w), key, reorder = FALSE)
  first <- match(rownames(sums), key)
  out <- data[first, keys, drop = FALSE]
  out$mean <- sums[, 1] / sums[, 2]
  rownames(out) <- NULL
  out
}

# Stage 2: OLS of each per-model contrast (columns of Y) on origin (its code columns). Returns the
# coefficients of every regression and their joint covariance (residual covariance x (X'X)^-1).
rq_stage_two <- function(Y, origin_codes) {
  X <- cbind(1, origin_codes)
  M <- nrow(X)
  if (M < ncol(X) + 1 || qr(X)$rank < ncol(X)) {
    stop(sprintf("two-stage: needs models of every origin and more models (%d) than origin levels (%d) + 1",
                 M, ncol(X)), call. = FALSE)
  }
  XtX_inv <- solve(crossprod(X))
  B <- XtX_inv %*% crossprod(X, Y)
  E <- Y - X %*% B
  S <- crossprod(E) / (M - ncol(X))
  list(coef = B, vcov = kronecker(S, XtX_inv), df = M - ncol(X), M = M)
}

# Per model, the nationality cell means as coefficients of the nationality coding: with two levels
# the mean and the difference (level 1 - level 2), with more the mean and the sum-contrast effects.
rq_stage_one_rq1 <- function(cm, models, levels) {
  y <- sapply(levels, function(s) cm$mean[cm$nationality == s][match(models, cm$model[cm$nationality == s])])
  y <- matrix(y, nrow = length(models), dimnames = list(models, levels))
  if (length(levels) == 2) return(cbind(mu = (y[, 1] + y[, 2]) / 2, delta = y[, 1] - y[, 2]))
  H <- cbind(1, rq_code_matrix(levels))
  t(solve(H, t(y)))
}

rq_two_stage <- function(data, analysis, control, weighted) {
  if (analysis == "rq3") return(rq_two_stage_rq3(data, control, weighted))
  lv <- rq_lv(data)
  models <- unique(as.character(data$model))
  origin <- as.character(data$origin)[match(models, as.character(data$model))]
  O <- rq_code_matrix(lv$origin)[origin, , drop = FALSE]
  nat_names <- rq_code_names("nationality", lv$nationality)
  org_names <- rq_code_names("origin", lv$origin)
  if (analysis == "rq1") {
    cm <- rq_cell_means(data, c("model", "nationality"), weighted)
    Y <- rq_stage_one_rq1(cm, models, lv$nationality)
    st <- rq_stage_two(Y, O)
    # vec(B): response j (mean, then each nationality code), regressor r (intercept, origin codes)
    rows <- nrow(st$coef)
    unit <- function(j, r) { v <- numeric(length(st$coef)); v[(j - 1) * rows + r] <- 1; v }
    terms <- rq_terms("rq1", lv = lv)
    map <- lapply(terms, function(term) {
      parts <- strsplit(term, ":", fixed = TRUE)[[1]]
      j <- 1 + c(match(intersect(parts, nat_names), nat_names), 0)[1]
      r <- 1 + c(match(intersect(parts, org_names), org_names), 0)[1]
      unit(j, r)
    })
    names(map) <- terms
  } else {
    two <- length(lv$nationality) == 2 && length(lv$origin) == 2
    n1 <- lv$nationality[1]; n2 <- lv$nationality[2]
    paired <- function(nat) unique(as.character(data$participant_language[as.character(data$nationality) == nat]))
    if (!two || length(paired(n1)) != 1 || length(paired(n2)) != 1 || paired(n1) == paired(n2)) {
      return(list(skipped = paste0(
        "not applicable: the two-stage RQ2 decomposition needs two countries paired with different prompt ",
        "languages and two origins (here ", length(lv$nationality), " countries, ", length(lv$origin), " origins)")))
    }
    l1 <- paired(n1); l2 <- paired(n2)
    # y(s, c) = mu_c + s * delta_c; per model, the four conditions (language l, persona p: +-0.5,
    # country 1's language and persona = +0.5) give a0 + al*l + ap*p + alp*l*p for delta and c0 + ... for mu.
    cm <- rq_cell_means(data, c("model", "language", "persona", "nationality"), weighted)
    get <- function(nat, lang, pers) {
      hit <- cm[cm$nationality == nat & cm$language == lang & toupper(cm$persona) == pers, ]
      hit$mean[match(models, hit$model)]
    }
    conds <- expand.grid(lang = c(l1, l2), pers = c(n1, n2), stringsAsFactors = FALSE)
    l <- ifelse(conds$lang == l1, 0.5, -0.5); p <- ifelse(conds$pers == n1, 0.5, -0.5)
    H <- cbind(1, l, p, l * p)  # saturated 4 x 4 design of the conditions
    Hinv <- solve(H)
    delta <- sapply(seq_len(nrow(conds)), function(i) get(n1, conds$lang[i], conds$pers[i]) - get(n2, conds$lang[i], conds$pers[i]))
    mu <- sapply(seq_len(nrow(conds)), function(i) (get(n1, conds$lang[i], conds$pers[i]) + get(n2, conds$lang[i], conds$pers[i])) / 2)
    if (anyNA(delta) || anyNA(mu)) {
      return(list(skipped = sprintf("not applicable: every LLM needs the four language x persona conditions (%s/%s x %s/%s)",
                                    l1, l2, n1, n2)))
    }
    a <- delta %*% t(Hinv)  # per model: a0, al, ap, alp
    cc <- mu %*% t(Hinv)
    Y <- cbind(a, cc)
    colnames(Y) <- c("a0", "al", "ap", "alp", "c0", "cl", "cp", "clp")
    st <- rq_stage_two(Y, O)
    # vec(B): for response j, (intercept, slope) at positions 2j-1, 2j
    e <- function(j, slope, scale = 1) { v <- numeric(16); v[2 * j - !slope] <- scale; v }
    map <- list("(Intercept)" = e(5, FALSE), "language_congruentyes" = e(2, FALSE, 0.5),
                "persona_congruentyes" = e(3, FALSE, 0.5), "origin_congruentyes" = e(1, TRUE, 0.5),
                e(1, FALSE), e(5, TRUE),
                "language_congruentyes:persona_congruentyes" = e(8, FALSE),
                "language_congruentyes:origin_congruentyes" = e(6, TRUE),
                "persona_congruentyes:origin_congruentyes" = e(7, TRUE),
                "language_congruentyes:persona_congruentyes:origin_congruentyes" = e(4, TRUE, 0.5))
    names(map)[5:6] <- c(nat_names, org_names)
    terms <- rq_terms("rq2", "lmer", lv = lv)
  }
  L <- do.call(rbind, map[terms])
  beta <- drop(L %*% as.vector(st$coef))
  vcov_beta <- L %*% st$vcov %*% t(L)
  dimnames(vcov_beta) <- list(terms, terms)
  inference <- list(kind = "lm", beta = stats::setNames(beta, terms), vcov_beta = vcov_beta, df = st$df)
  tidy <- vs_contrast_rows(inference, diag(length(terms)), terms, control$fit$conf_level)
  list(tidy = tidy, inference = inference, n_models = st$M, df = st$df)
}

rq_two_stage_rq3 <- function(data, control, weighted) {
  split <- rq_rq3_levels(data)
  lv <- rq_lv(data)
  full_names <- rq_terms("rq3", removed_levels = levels(data$removed), lv = lv)
  parts <- list(none = rq_two_stage(split$none, "rq1", control, weighted))
  for (level in names(split$levels)) parts[[level]] <- rq_two_stage(split$levels[[level]], "rq1", control, weighted)
  tidy <- do.call(rbind, lapply(names(parts), function(level) {
    t <- parts[[level]]$tidy
    if (level != "none") t$term <- unname(rq_level_terms(level, lv)[t$term])
    t
  }))
  tidy <- tidy[order(match(tidy$term, full_names)), , drop = FALSE]
  rownames(tidy) <- NULL
  list(tidy = tidy, inference = NULL, n_models = parts$none$n_models, df = parts$none$df)
}

# ------------------------------------------------------------------------------- simple effects

# emmeans-style simple effects. RQ2 (half-sum codes): the contrast yes - no of a congruence at the
# given codes of the other two is the derivative of the linear predictor with respect to its code,
# evaluated there. RQ1: every pair of levels of nationality (origin) within each level of the other
# factor, as emmeans' pairwise ~ nationality | origin: the difference of the two cells' predictors.
rq_simple_L <- function(terms, effect, at) {
  vapply(terms, function(term) {
    parts <- strsplit(term, ":", fixed = TRUE)[[1]]
    if (!effect %in% parts) return(0)
    others <- setdiff(parts, effect)
    if (!all(others %in% names(at))) return(0)
    prod(unlist(at[others]))
  }, 0)
}

rq_simple_specs <- function(analysis) {
  if (analysis == "rq2") {
    cong <- c(language_congruentyes = "language congruence", persona_congruentyes = "persona congruence",
              origin_congruentyes = "origin congruence")
    specs <- list()
    for (eff in names(cong)) {
      others <- setdiff(names(cong), eff)
      specs[[length(specs) + 1]] <- list(effect = eff, label = cong[[eff]], contrast = "yes - no", by = others,
                                         by_label = sub(" congruence", "_congruent", cong[others]),
                                         levels = c(yes = 0.5, no = -0.5))
    }
    return(specs)
  }
  list()
}

# The RQ1 design row of the cell (nationality s, origin o), named by the fixed-effect terms.
rq_cell_row <- function(terms, lv, s, o) {
  codes <- list(nationality = rq_code_matrix(lv$nationality), origin = rq_code_matrix(lv$origin))
  at <- list(nationality = s, origin = o)
  value <- function(part) {
    for (v in names(codes)) {
      hit <- match(part, paste0(v, colnames(codes[[v]])))
      if (!is.na(hit)) return(codes[[v]][at[[v]], hit])
    }
    stop(sprintf("simple effects: unknown term part '%s'", part), call. = FALSE)
  }
  vapply(terms, function(term) {
    if (term == "(Intercept)") return(1)
    prod(vapply(strsplit(term, ":", fixed = TRUE)[[1]], value, 0))
  }, 0)
}

rq_simple_rq1 <- function(inference, lv, conf_level) {
  terms <- names(inference$beta)
  rows <- list()
  for (effect in c("nationality", "origin")) {
    other <- setdiff(c("nationality", "origin"), effect)
    pairs <- utils::combn(lv[[effect]], 2, simplify = FALSE)
    for (at in lv[[other]]) {
      for (pair in pairs) {
        cell <- function(level) if (effect == "nationality") rq_cell_row(terms, lv, level, at) else rq_cell_row(terms, lv, at, level)
        row <- vs_contrast_rows(inference, cell(pair[1]) - cell(pair[2]), paste(pair, collapse = " - "), conf_level)
        rows[[length(rows) + 1]] <- cbind(effect = effect, at = sprintf("%s = %s", other, at), row)
      }
    }
  }
  rows
}

rq_simple_effects <- function(inference, analysis, conf_level, lv) {
  if (is.null(inference)) return(NULL)
  terms <- names(inference$beta)
  rows <- if (analysis == "rq1") rq_simple_rq1(inference, lv, conf_level) else list()
  for (spec in rq_simple_specs(analysis)) {
    grid <- expand.grid(rep(list(names(spec$levels)), length(spec$by)), stringsAsFactors = FALSE)
    for (g in seq_len(nrow(grid))) {
      at <- stats::setNames(as.list(spec$levels[unlist(grid[g, ])]), spec$by)
      L <- rq_simple_L(terms, spec$effect, at)
      where <- paste(sprintf("%s = %s", spec$by_label, unlist(grid[g, ])), collapse = ", ")
      row <- vs_contrast_rows(inference, L, spec$contrast, conf_level)
      rows[[length(rows) + 1]] <- cbind(effect = spec$label, at = where, row)
    }
  }
  if (!length(rows)) return(NULL)
  out <- do.call(rbind, rows)
  names(out)[names(out) == "term"] <- "contrast"
  out
}

# --------------------------------------------------------------------------------------- rq_fit

rq_method <- function(fit, analysis, control, info = list()) {
  switch(fit,
    lm = "lm: OLS, person x LLM pairs as independent rows, exactly as published (seed 001)",
    lm_weighted = "lm weighted: WLS with each person's survey weight on their rows (not in the paper)",
    two_stage = sprintf("two-stage by model: per-model contrasts of nationality means%s, then OLS across the %d models (df = %d)",
                        if (control$weighted) " (weighted)" else "", info$n_models, info$df),
    lmer = {
      base <- sprintf("lmer (recommended): REML, random effects from '%s' simplified as recorded in simplification.csv, lmerTest %s df",
                      control$random, control$fit$ddf)
      if (isTRUE(info$differences)) {
        paste0(base, "; each removal level fitted on within-pair differences (cosine at that level minus cosine with nothing removed), which cancel the participant x model pair effect exactly")
      } else base
    })
}

rq_adjust <- function(tidy) {
  tidy$p_holm <- NA_real_
  tidy$p_bh <- NA_real_
  family <- grepl("^(nationality|origin)[^:]*:removed[^:]*$", tidy$term)
  for (fit in unique(tidy$model)) {
    rows <- which(family & tidy$model == fit)
    if (length(rows)) {
      tidy$p_holm[rows] <- stats::p.adjust(tidy$p_value[rows], "holm")
      tidy$p_bh[rows] <- stats::p.adjust(tidy$p_value[rows], "BH")
    }
  }
  tidy
}

rq_fit <- function(data, analysis, instrument = "", control = rq_control()) {
  data <- rq_prepare(data, analysis, control)
  lv <- rq_lv(data)
  label <- rq_label(analysis, instrument)
  weighted <- control$weighted && "weight" %in% names(data)
  if (control$weighted && !weighted) stop(sprintf("%s: weights requested but the data have no weight column", analysis), call. = FALSE)
  tidy <- list(); random <- list(); glance <- list(); coding <- NULL; record <- NULL; simple <- list()
  lm_fits <- c(if ("lm" %in% control$fits) "lm", if ("lm" %in% control$fits && weighted) "lm_weighted")
  sd_outcome <- NA_real_
  for (fit in lm_fits) {
    started <- proc.time()[["elapsed"]]
    out <- rq_fit_lm(data, analysis, control, weighted = fit == "lm_weighted")
    method <- rq_method(fit, analysis, control)
    g <- out$glance
    g$seconds <- proc.time()[["elapsed"]] - started
    g$formula <- rq_fixed(analysis)
    tidy[[fit]] <- rq_decorate(out$tidy, label, fit, method)
    random[[fit]] <- rq_decorate(out$random, label, fit, method)
    glance[[fit]] <- rq_decorate(g, label, fit, method)
    coding <- out$coding
    if (fit == "lm") sd_outcome <- out$glance$sigma
    if (analysis != "rq3") simple[[fit]] <- rq_decorate(rq_simple_effects(out$inference, analysis, control$fit$conf_level, lv), label, fit, method)
  }
  if (is.na(sd_outcome)) sd_outcome <- rq_fit_lm(data, analysis, control, weighted = FALSE)$glance$sigma
  if ("lmer" %in% control$fits) {
    out <- rq_fit_lmer(data, analysis, control)
    method <- rq_method("lmer", analysis, control, list(differences = isTRUE(out$differences)))
    record <- rq_decorate(out$record, label, "lmer", method)
    if (!is.null(out$tidy)) {
      tidy$lmer <- rq_decorate(out$tidy, label, "lmer", method)
      random$lmer <- rq_decorate(out$random, label, "lmer", method)
      glance$lmer <- rq_decorate(out$glance, label, "lmer", method)
      if (analysis != "rq3") simple$lmer <- rq_decorate(rq_simple_effects(out$inference, analysis, control$fit$conf_level, lv), label, "lmer", method)
    }
    if (is.null(coding)) coding <- out$coding
  }
  started_two_stage <- proc.time()[["elapsed"]]
  two_stage <- if ("two_stage" %in% control$fits) rq_two_stage(data, analysis, control, weighted) else NULL
  if (!is.null(two_stage$skipped)) {
    glance$two_stage <- rq_decorate(data.frame(method = "two_stage", singular = FALSE, messages = two_stage$skipped,
                                               stringsAsFactors = FALSE), label, "two_stage", two_stage$skipped)
    two_stage <- NULL
  }
  if (!is.null(two_stage)) {
    started <- started_two_stage
    out <- two_stage
    method <- rq_method("two_stage", analysis, control, out)
    tidy$two_stage <- rq_decorate(out$tidy, label, "two_stage", method)
    glance$two_stage <- rq_decorate(data.frame(method = "two_stage", nobs = out$n_models, df_residual = out$df,
                                               REML = FALSE, optimizer = "QR", ddf = "models - 2",
                                               singular = FALSE, messages = "", seconds = proc.time()[["elapsed"]] - started,
                                               formula = rq_fixed(analysis, if (analysis == "rq2") "lmer" else "lm"),
                                               stringsAsFactors = FALSE), label, "two_stage", method)
    if (analysis != "rq3") simple$two_stage <- rq_decorate(rq_simple_effects(out$inference, analysis, control$fit$conf_level, lv), label, "two_stage", method)
    if (is.null(coding)) coding <- vs_apply_coding(data, rq_coding(analysis, if (analysis == "rq2") "lmer" else "lm", lv))$coding
  }
  tidy <- rq_bind(tidy)
  if (!is.null(tidy)) {
    tidy$std_estimate <- tidy$estimate / sd_outcome
    tidy <- rq_adjust(tidy)
  }
  glance <- rq_bind(glance)
  if (!is.null(glance)) glance$weighted <- glance$model %in% c("lm_weighted") | (glance$model == "two_stage" & weighted)
  list(tidy = tidy, random = rq_bind(random), glance = glance, coding = coding,
       simplification = record, simple_effects = rq_bind(simple))
}

# Row-bind frames whose columns differ (lm has no n_participant); counts become doubles so that
# a missing count is a plain NA on both sides of the bridge.
rq_bind <- function(parts) {
  parts <- Filter(function(p) !is.null(p) && nrow(p) > 0, parts)
  if (!length(parts)) return(NULL)
  cols <- unique(unlist(lapply(parts, names)))
  out <- do.call(rbind, lapply(parts, function(p) { p[setdiff(cols, names(p))] <- NA; p[cols] }))
  for (col in names(out)) if (is.integer(out[[col]])) out[[col]] <- as.numeric(out[[col]])
  rownames(out) <- NULL
  out
}

# rq_fit with the control options as plain arguments (what the Python bridge calls).
rq_fit_with <- function(data, analysis, instrument = "", fits = c("lm", "lmer", "two_stage"),
                        ddf = "Satterthwaite", random = "maximal", weighted = FALSE, conf_level = 0.95,
                        nationality_levels = NULL, origin_levels = NULL) {
  rq_fit(data, analysis, instrument = instrument,
         control = rq_control(fits = fits, ddf = ddf, random = random, weighted = weighted,
                              conf_level = conf_level, nationality_levels = nationality_levels,
                              origin_levels = origin_levels))
}

# Check a random-effects choice without data (the Python side validates study.yaml with it); two
# placeholder levels stand for the study's countries.
rq_check_random <- function(analysis, choice, what) {
  two <- c("A", "B")
  structure <- rq_structure(analysis, choice, what, lv = list(nationality = two, origin = two))
  rq_random_label(structure)
}

# Table-2 style: one row per analysis x term, each fit's columns side by side.
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
