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
# Coding (stated once, here): nationality and origin half-sum coded, China = +0.5, USA = -0.5
# (RQ1, RQ3, and the RQ2 mixed model); congruence with the participant's nationality, congruent
# ("yes") = +0.5 (RQ2); removed treatment coded, "none" = 0 (RQ3). Random-effect terms use the numeric
# codes: nationalityCN, originCN, language_congruentyes, persona_congruentyes, origin_congruentyes.
# Plain functions: sourcing has no side effects.

rq_analyses <- c("rq1", "rq2", "rq3")
rq_fit_kinds <- c("lm", "lmer", "two_stage")

rq_control <- function(fits = c("lm", "lmer", "two_stage"), ddf = "Satterthwaite", random = "maximal",
                       weighted = FALSE, conf_level = 0.95, ...) {
  extra <- list(...)
  if (length(extra)) warning("rq_control: ignoring unknown arguments: ", paste(names(extra), collapse = ", "))
  bad <- setdiff(fits, rq_fit_kinds)
  if (length(bad)) {
    stop(sprintf("fits must be among %s, not %s", paste(sprintf("'%s'", rq_fit_kinds), collapse = ", "),
                 paste(sprintf("'%s'", bad), collapse = ", ")), call. = FALSE)
  }
  list(fits = as.character(fits), random = as.character(random), weighted = isTRUE(weighted),
       fit = vs_fit_control(ddf = ddf, conf_level = conf_level))
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

rq_coding <- function(analysis, fit = "lm") {
  rq_check_analysis(analysis)
  switch(analysis,
    rq1 = vs_coding(c("nationality", "origin"), c("half_sum", "half_sum"), c("CN", "CN")),
    rq2 = if (fit == "lmer") {
      vs_coding(c("language_congruent", "persona_congruent", "origin_congruent", "nationality", "origin"),
                rep("half_sum", 5), c("yes", "yes", "yes", "CN", "CN"))
    } else {
      vs_coding(c("language_congruent", "persona_congruent", "origin_congruent"), rep("half_sum", 3),
                rep("yes", 3))
    },
    rq3 = vs_coding(c("nationality", "origin", "removed"), c("half_sum", "half_sum", "treatment"),
                    c("CN", "CN", "none")))
}

# Factor -> its numeric code column in random-effect terms.
rq_codes <- c(nationality = "nationalityCN", origin = "originCN",
              language_congruent = "language_congruentyes", persona_congruent = "persona_congruentyes",
              origin_congruent = "origin_congruentyes")

rq_columns <- function(analysis) {
  base <- c("participant", "nationality", "model", "origin", "language", "persona")
  switch(analysis, rq1 = base, rq2 = c(base, "language_congruent", "persona_congruent", "origin_congruent"),
         rq3 = c(base, "removed"))
}

# The maximal structure the design justifies (see the module comment and docs/study-yaml.md).
rq_maximal <- function(analysis) {
  rq_check_analysis(analysis)
  if (analysis == "rq2") {
    congruence <- c("language_congruentyes", "persona_congruentyes", "origin_congruentyes")
    # By-participant slopes for the three congruence factors, not for their interactions: an 8 x 8
    # person covariance (36 parameters) did not converge in 10,000 bobyqa evaluations on a simulated
    # panel of the paper's size, so the maximal structure the design supports stops at 4 x 4.
    return(list(vs_re_term("participant", c("(Intercept)", congruence)),
                vs_re_term("model", c("(Intercept)", "nationalityCN")),
                vs_re_term("model:language:persona", c("(Intercept)", "nationalityCN"))))
  }
  list(vs_re_term("participant", c("(Intercept)", "originCN")),
       vs_re_term("model", c("(Intercept)", "nationalityCN")))
}

rq_intercepts <- function(analysis) {
  list(vs_re_term("participant", "(Intercept)"), vs_re_term("model", "(Intercept)"))
}

# The structure a study asks for: "maximal", "intercepts" or lme4 terms; errors name the setting.
rq_structure <- function(analysis, choice, what = sprintf("random effects for %s", analysis)) {
  rq_check_analysis(analysis)
  if (identical(choice, "maximal")) return(rq_maximal(analysis))
  if (identical(choice, "intercepts")) return(rq_intercepts(analysis))
  if (!grepl("|", choice, fixed = TRUE)) {
    stop(sprintf("%s: '%s' is not a choice; use 'maximal', 'intercepts' or lme4 terms such as (1 + nationality | model) + (1 | participant)",
                 what, choice), call. = FALSE)
  }
  vs_re_parse(choice, rq_columns(analysis), rq_codes, what = what)
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

# Add the columns an analysis codes (congruence factors for RQ2; removed with "none" first for RQ3)
# and the numeric codes random-effect terms use.
rq_prepare <- function(data, analysis) {
  rq_check_analysis(analysis)
  rq_require(data, c("cosine", "participant", "model", "nationality", "origin"), analysis)
  data <- as.data.frame(data)
  data$participant <- factor(data$participant)
  data$model <- factor(data$model)
  half <- function(x, level) ifelse(as.character(x) == level, 0.5, -0.5)
  data$nationalityCN <- half(data$nationality, "CN")
  data$originCN <- half(data$origin, "CN")
  if (analysis == "rq2") {
    rq_require(data, c("language", "persona"), analysis)
    nat <- as.character(data$nationality)
    yes_no <- function(x) factor(ifelse(x, "yes", "no"), levels = c("no", "yes"))
    data$language_congruent <- yes_no(as.character(data$language) == rq_native_language(nat))
    data$persona_congruent <- yes_no(toupper(as.character(data$persona)) == nat)
    data$origin_congruent <- yes_no(as.character(data$origin) == nat)
    for (v in c("language_congruent", "persona_congruent", "origin_congruent")) {
      data[[paste0(v, "yes")]] <- half(data[[v]], "yes")
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

# R's names of the fixed effects (model.matrix order) without building a model matrix.
rq_terms <- function(analysis, fit = "lm", removed_levels = character()) {
  if (analysis == "rq1") return(c("(Intercept)", "nationalityCN", "originCN", "nationalityCN:originCN"))
  if (analysis == "rq2") {
    lc <- "language_congruentyes"; pc <- "persona_congruentyes"; oc <- "origin_congruentyes"
    main <- c("(Intercept)", lc, pc, oc, if (fit == "lmer") c("nationalityCN", "originCN"))
    return(c(main, paste(lc, pc, sep = ":"), paste(lc, oc, sep = ":"), paste(pc, oc, sep = ":"),
             paste(lc, pc, oc, sep = ":")))
  }
  r <- paste0("removed", setdiff(removed_levels, "none"))
  c("(Intercept)", "nationalityCN", "originCN", r, "nationalityCN:originCN", paste0("nationalityCN:", r),
    paste0("originCN:", r), paste0("nationalityCN:originCN:", r))
}

rq_spec <- function(analysis, full_rq3 = FALSE) {
  columns <- switch(analysis, rq1 = "model", rq2 = c("model", "language", "persona"),
                    rq3 = if (full_rq3) c("model", "removed") else "model")
  vs_crossed_spec("participant", "nationality", columns)
}

# ------------------------------------------------------------------------------------------- lm

rq_fit_lm <- function(data, analysis, control, weighted) {
  coded <- vs_apply_coding(data, rq_coding(analysis))
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
  base <- c("(Intercept)", "nationalityCN", "originCN", "nationalityCN:originCN")
  fits <- list(); rss <- 0; n <- 0; sum_log_w <- 0
  for (lv in levels_removed) {
    rows <- which(data$removed == lv)
    X <- cbind(1, data$nationalityCN[rows], data$originCN[rows],
               data$nationalityCN[rows] * data$originCN[rows])
    y <- data$cosine[rows]
    w <- if (is.null(weights)) rep(1, length(rows)) else weights[rows]
    qx <- qr(X * sqrt(w))
    if (qx$rank < 4) stop(sprintf("rq3 lm: removal level '%s' cannot estimate all four effects", lv), call. = FALSE)
    beta <- qr.coef(qx, y * sqrt(w))
    res <- y - drop(X %*% beta)
    rss <- rss + sum(w * res^2); n <- n + length(rows); sum_log_w <- sum_log_w + sum(log(w))
    fits[[lv]] <- list(beta = beta, unscaled = chol2inv(qr.R(qx)))
  }
  L <- length(levels_removed); p <- 4L * L
  df <- n - p
  sigma2 <- rss / df
  full_names <- rq_terms("rq3", removed_levels = levels_removed)
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
      A[k, (l - 1L) * 4L + b] <- 1
      A[k, b] <- -1
    }
  }
  beta_all <- unlist(lapply(levels_removed, function(lv) fits[[lv]]$beta))
  cov_all <- matrix(0, p, p)
  for (l in seq_len(L)) {
    idx <- (l - 1L) * 4L + 1:4
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
  requested <- rq_structure(analysis, control$random)
  if (analysis == "rq3" && identical(control$random, "maximal")) return(rq_fit_rq3_differences(data, control))
  rq_mixed_one(data, rq_fixed(analysis, "lmer"), rq_coding(analysis, "lmer"), requested,
               rq_spec(analysis, full_rq3 = TRUE), control, level = "")
}

rq_level_terms <- function(level) {
  c("(Intercept)" = paste0("removed", level), nationalityCN = paste0("nationalityCN:removed", level),
    originCN = paste0("originCN:removed", level),
    "nationalityCN:originCN" = paste0("nationalityCN:originCN:removed", level))
}

rq_fit_rq3_differences <- function(data, control) {
  split <- rq_rq3_levels(data)
  fixed <- rq_fixed("rq1")
  coding <- rq_coding("rq1")
  structure <- rq_maximal("rq3")
  spec <- rq_spec("rq3")
  fits <- list(none = rq_mixed_one(split$none, fixed, coding, structure, spec, control, "none"))
  for (lv in names(split$levels)) {
    fits[[lv]] <- rq_mixed_one(split$levels[[lv]], fixed, coding, structure, spec, control, lv)
  }
  records <- do.call(rbind, lapply(fits, `[[`, "record"))
  full_names <- rq_terms("rq3", removed_levels = levels(data$removed))
  tidy <- list(); glance <- list(); random <- list()
  for (lv in names(fits)) {
    f <- fits[[lv]]
    if (is.null(f$tidy)) next
    part <- f$tidy
    if (lv != "none") part$term <- unname(rq_level_terms(lv)[part$term])
    tidy[[lv]] <- part
    glance[[lv]] <- f$glance
    random[[lv]] <- f$random
  }
  tidy <- if (length(tidy)) do.call(rbind, tidy) else NULL
  if (!is.null(tidy)) {
    tidy <- tidy[order(match(tidy$term, full_names)), , drop = FALSE]
    rownames(tidy) <- NULL
  }
  list(tidy = tidy, glance = rq_bind(glance), random = rq_bind(random), record = records,
       coding = vs_apply_coding(data, rq_coding("rq3"))$coding, differences = TRUE,
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

# Stage 2: OLS of each per-model contrast (columns of Y) on origin (half-sum coded). Returns the
# coefficients of every regression and their joint covariance (residual covariance x (X'X)^-1).
rq_stage_two <- function(Y, origin_code) {
  X <- cbind(1, origin_code)
  M <- nrow(X)
  if (M < 3 || length(unique(origin_code)) < 2) stop("two-stage: needs at least 3 models of both origins", call. = FALSE)
  XtX_inv <- solve(crossprod(X))
  B <- XtX_inv %*% crossprod(X, Y)
  E <- Y - X %*% B
  S <- crossprod(E) / (M - 2)
  list(coef = B, vcov = kronecker(S, XtX_inv), df = M - 2, M = M)
}

rq_two_stage <- function(data, analysis, control, weighted) {
  if (analysis == "rq3") return(rq_two_stage_rq3(data, control, weighted))
  models <- unique(as.character(data$model))
  origin <- as.character(data$origin)[match(models, as.character(data$model))]
  o <- ifelse(origin == "CN", 0.5, -0.5)
  if (analysis == "rq1") {
    cm <- rq_cell_means(data, c("model", "nationality"), weighted)
    cn <- cm$mean[cm$nationality == "CN"][match(models, cm$model[cm$nationality == "CN"])]
    us <- cm$mean[cm$nationality == "US"][match(models, cm$model[cm$nationality == "US"])]
    Y <- cbind(mu = (cn + us) / 2, delta = cn - us)
    st <- rq_stage_two(Y, o)
    # coefficient order: vec(B) = (mu:1, mu:o, delta:1, delta:o)
    map <- list("(Intercept)" = c(1, 0, 0, 0), originCN = c(0, 1, 0, 0), nationalityCN = c(0, 0, 1, 0),
                "nationalityCN:originCN" = c(0, 0, 0, 1))
    terms <- rq_terms("rq1")
  } else {
    # y(s, c) = mu_c + s * delta_c; per model, the four conditions (language l, persona p: +-0.5,
    # zh and cn = +0.5) give a0 + al*l + ap*p + alp*l*p for delta and c0 + ... for mu.
    cm <- rq_cell_means(data, c("model", "language", "persona", "nationality"), weighted)
    get <- function(nat, lang, pers) {
      hit <- cm[cm$nationality == nat & cm$language == lang & cm$persona == pers, ]
      hit$mean[match(models, hit$model)]
    }
    conds <- expand.grid(lang = c("zh", "en"), pers = c("cn", "us"), stringsAsFactors = FALSE)
    l <- ifelse(conds$lang == "zh", 0.5, -0.5); p <- ifelse(conds$pers == "cn", 0.5, -0.5)
    H <- cbind(1, l, p, l * p)  # saturated 4 x 4 design of the conditions
    Hinv <- solve(H)
    delta <- sapply(seq_len(nrow(conds)), function(i) get("CN", conds$lang[i], conds$pers[i]) - get("US", conds$lang[i], conds$pers[i]))
    mu <- sapply(seq_len(nrow(conds)), function(i) (get("CN", conds$lang[i], conds$pers[i]) + get("US", conds$lang[i], conds$pers[i])) / 2)
    if (anyNA(delta) || anyNA(mu)) {
      return(list(skipped = "not applicable: every LLM needs the four language x persona conditions (en/zh x cn/us)"))
    }
    a <- delta %*% t(Hinv)  # per model: a0, al, ap, alp
    cc <- mu %*% t(Hinv)
    Y <- cbind(a, cc)
    colnames(Y) <- c("a0", "al", "ap", "alp", "c0", "cl", "cp", "clp")
    st <- rq_stage_two(Y, o)
    # vec(B): for response j, (intercept, slope) at positions 2j-1, 2j
    e <- function(j, slope, scale = 1) { v <- numeric(16); v[2 * j - !slope] <- scale; v }
    map <- list("(Intercept)" = e(5, FALSE), "language_congruentyes" = e(2, FALSE, 0.5),
                "persona_congruentyes" = e(3, FALSE, 0.5), "origin_congruentyes" = e(1, TRUE, 0.5),
                "nationalityCN" = e(1, FALSE), "originCN" = e(5, TRUE),
                "language_congruentyes:persona_congruentyes" = e(8, FALSE),
                "language_congruentyes:origin_congruentyes" = e(6, TRUE),
                "persona_congruentyes:origin_congruentyes" = e(7, TRUE),
                "language_congruentyes:persona_congruentyes:origin_congruentyes" = e(4, TRUE, 0.5))
    terms <- rq_terms("rq2", "lmer")
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
  full_names <- rq_terms("rq3", removed_levels = levels(data$removed))
  parts <- list(none = rq_two_stage(split$none, "rq1", control, weighted))
  for (lv in names(split$levels)) parts[[lv]] <- rq_two_stage(split$levels[[lv]], "rq1", control, weighted)
  tidy <- do.call(rbind, lapply(names(parts), function(lv) {
    t <- parts[[lv]]$tidy
    if (lv != "none") t$term <- unname(rq_level_terms(lv)[t$term])
    t
  }))
  tidy <- tidy[order(match(tidy$term, full_names)), , drop = FALSE]
  rownames(tidy) <- NULL
  list(tidy = tidy, inference = NULL, n_models = parts$none$n_models, df = parts$none$df)
}

# ------------------------------------------------------------------------------- simple effects

# emmeans-style simple effects of each factor within each level of the others (half-sum codes):
# the contrast level A - level B of `effect` at the given codes of the other factors is the derivative
# of the linear predictor with respect to effect's code, evaluated there.
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
  if (analysis == "rq1") {
    return(list(
      list(effect = "nationalityCN", label = "nationality", contrast = "CN - US", by = "originCN",
           by_label = "origin", levels = c(CN = 0.5, US = -0.5)),
      list(effect = "originCN", label = "origin", contrast = "CN - US", by = "nationalityCN",
           by_label = "nationality", levels = c(CN = 0.5, US = -0.5))))
  }
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

rq_simple_effects <- function(inference, analysis, conf_level) {
  if (is.null(inference)) return(NULL)
  terms <- names(inference$beta)
  rows <- list()
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
  family <- grepl("^(nationalityCN|originCN):removed", tidy$term)
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
  data <- rq_prepare(data, analysis)
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
    if (analysis != "rq3") simple[[fit]] <- rq_decorate(rq_simple_effects(out$inference, analysis, control$fit$conf_level), label, fit, method)
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
      if (analysis != "rq3") simple$lmer <- rq_decorate(rq_simple_effects(out$inference, analysis, control$fit$conf_level), label, "lmer", method)
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
    if (analysis != "rq3") simple$two_stage <- rq_decorate(rq_simple_effects(out$inference, analysis, control$fit$conf_level), label, "two_stage", method)
    if (is.null(coding)) coding <- vs_apply_coding(data, rq_coding(analysis, if (analysis == "rq2") "lmer" else "lm"))$coding
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
                        ddf = "Satterthwaite", random = "maximal", weighted = FALSE, conf_level = 0.95) {
  rq_fit(data, analysis, instrument = instrument,
         control = rq_control(fits = fits, ddf = ddf, random = random, weighted = weighted,
                              conf_level = conf_level))
}

# Check a random-effects choice without data (the Python side validates study.yaml with it).
rq_check_random <- function(analysis, choice, what) {
  structure <- rq_structure(analysis, choice, what)
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
