# Random-effects structures as data, and the recorded simplification from the maximal one.
#
#   vs_re_parse("(1 + nationalityCN | model) + (1 | participant)")  -> a structure
#   vs_re_render(structure)                                          -> lme4 terms
#   vs_fit_mixed(fixed, structure, data, spec, control)              -> fit + simplification record
#
# A structure is a list of terms, each list(group = "model", cols = c("(Intercept)", "nationalityCN"),
# correlated = TRUE): the grouping factor, the columns of its random-effect design (numeric
# covariates, or products a:b of them) and whether their correlations are estimated. Factors of the
# design enter random terms as their numeric codes (nationalityCN = +0.5 China / -0.5 USA in the
# paper; one sum-contrast column per level but the reference with more countries), so that
# `||` and dropping single components mean what they say (lme4's `||` ignores factors).
#
# The simplification sequence (deterministic; every attempt is a row of the record):
#   1. fit the structure with control$optimizer; if it does not converge (optimizer code or lme4's
#      gradient/Hessian checks) and is not singular, refit with the other optimizers in
#      vs_optimizers, allFit-style; the first that converges is kept; if none does but all agree
#      (fixed effects within 1e-3 SE, logLik within 1e-3) the warnings are false positives;
#   2. singular, or not converged with any optimizer: drop every correlation (|| terms);
#   3. still singular or not converged: drop every component estimated at zero (SD < 1e-4 sigma,
#      isSingular's tolerance); if none is, drop the one component that adds the least variance to an
#      observation (SD^2 x mean square of its covariate; ties: the later component); repeat 1-3.
# The first structure that converges and is not singular is selected; if none is left the record
# says so and the mixed fit is not reported.

vs_optimizers <- c("bobyqa", "Nelder_Mead", "nloptwrap", "nlminbwrap")

vs_re_term <- function(group, cols, correlated = TRUE) {
  list(group = group, cols = as.character(cols), correlated = isTRUE(correlated) && length(cols) > 1)
}

vs_re_lhs <- function(cols) {
  other <- setdiff(cols, "(Intercept)")
  if ("(Intercept)" %in% cols) paste(c("1", other), collapse = " + ") else paste(c("0", other), collapse = " + ")
}

vs_re_render_term <- function(term) {
  bar <- if (term$correlated || length(term$cols) == 1) "|" else "||"
  sprintf("(%s %s %s)", vs_re_lhs(term$cols), bar, term$group)
}

vs_re_render <- function(structure) {
  if (!length(structure)) return("")
  paste(vapply(structure, vs_re_render_term, ""), collapse = " + ")
}

vs_re_formula <- function(fixed, structure) {
  if (!length(structure)) return(fixed)
  paste(fixed, "+", vs_re_render(structure))
}

vs_re_components <- function(structure) {
  if (!length(structure)) return(character())
  unlist(lapply(structure, function(t) paste0(t$cols, " | ", t$group)))
}

vs_re_decorrelate <- function(structure) {
  lapply(structure, function(t) { t$correlated <- FALSE; t })
}

vs_re_drop <- function(structure, group, col) {
  out <- list()
  for (t in structure) {
    if (identical(t$group, group) && col %in% t$cols) {
      t$cols <- setdiff(t$cols, col)
      t$correlated <- t$correlated && length(t$cols) > 1
      if (!length(t$cols)) next
    }
    out[[length(out) + 1]] <- t
  }
  out
}

# Parse lme4 random-effect terms written by a user. `recode` maps a factor name to its numeric code
# column(s) (nationality -> nationalityCN; a k-level factor -> its k - 1 columns); `columns` are the
# variables the data have; `what` names the setting in error messages (e.g. "study.yaml field
# analysis.random_effects.rq1").
vs_re_parse <- function(text, columns, recode = character(), what = "random effects") {
  fail <- function(msg) stop(sprintf("%s: %s", what, msg), call. = FALSE)
  parsed <- tryCatch(stats::as.formula(paste("~", text)), error = function(e) fail(
    sprintf("cannot parse '%s' as lme4 terms (%s); write e.g. (1 + nationality | model) + (1 | participant)",
            text, conditionMessage(e))))
  rhs <- parsed[[2]]
  pieces <- list()
  collect <- function(e) {
    if (is.call(e) && identical(e[[1]], as.name("+"))) { collect(e[[2]]); collect(e[[3]]); return(invisible()) }
    if (is.call(e) && identical(e[[1]], as.name("("))) e <- e[[2]]
    if (!(is.call(e) && (identical(e[[1]], as.name("|")) || identical(e[[1]], as.name("||"))))) {
      fail(sprintf("'%s' is not a random-effect term; each term looks like (1 + x | group)",
                   paste(deparse(e), collapse = " ")))
    }
    pieces[[length(pieces) + 1]] <<- e
  }
  collect(rhs)
  code <- function(v) if (v %in% names(recode)) recode[[v]] else v
  structure <- list()
  for (e in pieces) {
    gvars <- all.vars(e[[3]])
    lvars <- all.vars(e[[2]])
    unknown <- setdiff(c(lvars, gvars), c(columns, unlist(recode, use.names = FALSE)))
    if (length(unknown)) {
      fail(sprintf("term (%s) uses %s, not in the data; variables are: %s",
                   paste(deparse(e), collapse = " "), paste(sprintf("'%s'", unknown), collapse = ", "),
                   paste(columns, collapse = ", ")))
    }
    tt <- stats::terms(stats::as.formula(paste("~", paste(deparse(e[[2]]), collapse = " "))))
    labels <- attr(tt, "term.labels")
    # a factor with k > 2 levels has k - 1 code columns: a term naming it expands to all of them
    cols <- unlist(lapply(labels, function(l) {
      Reduce(function(a, b) as.vector(outer(a, b, paste, sep = ":")), lapply(strsplit(l, ":", fixed = TRUE)[[1]], code))
    }))
    if (attr(tt, "intercept") == 1) cols <- c("(Intercept)", cols)
    if (!length(cols)) fail(sprintf("term (%s) has no random effect", paste(deparse(e), collapse = " ")))
    group <- paste(gvars, collapse = ":")
    structure[[length(structure) + 1]] <- vs_re_term(group, unname(cols), identical(e[[1]], as.name("|")))
  }
  structure
}

# Mean square over the rows of each component's covariate (1 for an intercept).
vs_re_mean_squares <- function(structure, data) {
  out <- numeric()
  for (t in structure) {
    for (col in t$cols) {
      if (col == "(Intercept)") { ms <- 1 } else {
        parts <- strsplit(col, ":", fixed = TRUE)[[1]]
        z <- Reduce(`*`, lapply(parts, function(v) as.numeric(data[[v]])))
        ms <- mean(z^2)
      }
      out[paste0(col, " | ", t$group)] <- ms
    }
  }
  out
}

# One fit of one structure: our exact engine for complete crossings, lme4 otherwise.
vs_mixed_attempt <- function(formula, data, spec, control, optimizer) {
  ctrl <- control
  ctrl$optimizer <- optimizer
  if (!is.null(spec) && control$ddf == "Satterthwaite") {
    fit <- vs_crossed_fit_core(formula, data, spec, ctrl)
    if (!inherits(fit, "vs_crossed_skip")) return(fit)
  }
  vs_lme4_fit_core(formula, data, ctrl)
}

# Record row of one attempt.
vs_attempt_row <- function(step, structure, attempt, decision) {
  data.frame(step = step, random = vs_re_render(structure), optimizer = attempt$optimizer,
             engine = attempt$engine, converged = attempt$converged, singular = attempt$singular,
             logLik = attempt$logLik, AIC = attempt$AIC,
             n_components = length(vs_re_components(structure)),
             messages = paste(attempt$messages, collapse = " | "), decision = decision,
             selected = FALSE, stringsAsFactors = FALSE)
}

vs_optimizers_agree <- function(attempts) {
  betas <- do.call(rbind, lapply(attempts, `[[`, "beta"))
  se <- sqrt(pmax(diag(attempts[[1]]$vcov_beta_approx), 1e-300))
  ll <- vapply(attempts, `[[`, 0, "logLik")
  all(abs(sweep(betas, 2, betas[1, ])) <= 1e-3 * rep(se, each = nrow(betas))) && diff(range(ll)) < 1e-3
}

# Fit the structure, simplifying as documented above. `simplify = FALSE` fits it once, as given.
# `attempt` fits one structure with one optimizer (another engine, such as ordinal::clmm, supplies its
# own with the same fields), `optimizers` are the ones it tries allFit-style.
vs_fit_mixed <- function(fixed, structure, data, spec = NULL, control = vs_fit_control(),
                         simplify = TRUE, attempt = vs_mixed_attempt, optimizers = vs_optimizers) {
  records <- list()
  current <- structure
  step <- 0L
  selected <- NULL
  while (length(current)) {
    step <- step + 1L
    formula <- vs_parse_formula(vs_re_formula(fixed, current))
    first <- attempt(formula, data, spec, control, control$optimizer)
    attempts <- list(first)
    ok <- first$converged && !first$singular
    accepted_by <- if (ok) "accepted: converged, not singular" else NULL
    if (!ok && !first$singular) {
      for (opt in setdiff(optimizers, control$optimizer)) {
        other <- attempt(formula, data, spec, control, opt)
        attempts[[length(attempts) + 1]] <- other
        if (other$converged && !other$singular) {
          ok <- TRUE
          accepted_by <- sprintf("accepted: converged with %s after %s did not", opt, control$optimizer)
          break
        }
      }
      if (!ok && !any(vapply(attempts, `[[`, TRUE, "singular")) && vs_optimizers_agree(attempts)) {
        ok <- TRUE
        accepted_by <- sprintf("accepted: %d optimizers agree (estimates within 1e-3 SE, logLik within 1e-3), so the convergence warnings are false positives",
                               length(attempts))
        attempts <- c(attempts[-1], attempts[1])  # keep the first optimizer's fit, recorded last
      }
    }
    chosen <- attempts[[length(attempts)]]
    if (ok || !simplify) {
      for (a in attempts[-length(attempts)]) {
        records[[length(records) + 1]] <- vs_attempt_row(step, current, a, "not converged: try the next optimizer")
      }
      decision <- if (ok) accepted_by else "fitted as requested (no simplification)"
      records[[length(records) + 1]] <- vs_attempt_row(step, current, chosen, decision)
      records[[length(records)]]$selected <- TRUE
      selected <- list(fit = chosen, structure = current)
      break
    }
    why <- if (first$singular) "singular" else "not converged with any optimizer"
    if (any(vapply(current, function(t) t$correlated, TRUE))) {
      nxt <- vs_re_decorrelate(current)
      decision <- sprintf("%s: drop the correlations (||)", why)
    } else {
      comp <- first$components
      comp$variance_added <- comp$sd^2 * vs_re_mean_squares(current, data)[paste0(comp$component, " | ", comp$group)]
      at_zero <- which(comp$sd <= 1e-4 * first$sigma)
      drop <- if (length(at_zero)) at_zero else max(which(comp$variance_added == min(comp$variance_added)))
      nxt <- current
      for (k in drop) nxt <- vs_re_drop(nxt, comp$group[k], comp$component[k])
      named <- paste(sprintf("%s | %s", comp$component[drop], comp$group[drop]), collapse = ", ")
      decision <- if (length(at_zero)) {
        sprintf("%s: drop the component%s estimated at zero: %s", why, if (length(drop) > 1) "s" else "", named)
      } else {
        sprintf("%s: drop %s (adds the least variance: SD %.3g)", why, named, comp$sd[drop])
      }
    }
    for (i in seq_along(attempts)) {
      records[[length(records) + 1]] <- vs_attempt_row(step, current, attempts[[i]],
        if (i < length(attempts)) "not converged: try the next optimizer" else decision)
    }
    current <- nxt
  }
  record <- do.call(rbind, records)
  if (is.null(selected)) {
    record <- rbind(record, data.frame(step = step + 1L, random = "", optimizer = "", engine = "",
      converged = NA, singular = NA, logLik = NA_real_, AIC = NA_real_, n_components = 0L, messages = "",
      decision = "no random-effect component is supported by the data: no mixed model is reported",
      selected = FALSE, stringsAsFactors = FALSE))
    return(list(fit = NULL, structure = list(), record = record))
  }
  list(fit = selected$fit, structure = selected$structure, record = record)
}
