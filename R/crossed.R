# lmer for complete crossed designs, exactly, from sufficient statistics.
#
#   vs_crossed_fit(formula, data, spec = vs_crossed_spec(...), control = vs_fit_control())
#     -> list(tidy, random, glance, inference) like vs_fit_lmer(), or NULL (with a reason) when the
#        data are not a complete crossing the reduction covers.
#
# The designs of RQ1-RQ3 cross every person with every LLM condition exactly once (the exclusion
# rule removes whole people and whole LLMs, never single pairs). Write y_p for person p's row of
# responses over the C conditions. When every fixed-effect and random-effect covariate depends only
# on the person's class (nationality) and the condition, and every random-effect grouping factor is
# either the person (optionally crossed with a function of the condition, e.g. participant:model) or
# a function of the condition (model, model:language:persona), the marginal covariance is
#
#   Cov(y_p) = sigma^2 (I + K_s) = sigma^2 Sigma_s  within class s, independent across people,
#   plus condition-level effects shared by every person of a class.
#
# Rotate the people of each class into their mean and P_s - 1 orthonormal deviations from it. The
# deviations carry neither fixed effects nor condition-level effects, are independent with
# covariance sigma^2 Sigma_s, and enter the likelihood only through the scatter matrix
# S_s = sum_p (y_p - ybar_s)(y_p - ybar_s)'. The class means z_s = sqrt(P_s) ybar_s carry the fixed
# effects and the condition-level effects. The REML criterion is therefore, exactly,
#
#   sum_s [(P_s - 1) log|Sigma_s| + tr(Sigma_s^-1 S_s) / sigma^2] + (the GLS REML criterion of the
#   S x C class means, covariance blockdiag(Sigma_s) + W Z G Z' W, W = diag(sqrt(P_s))) + consts,
#
# the same function of theta that lme4 minimises (its log|L|^2, log|RX|^2 and penalised residual sum
# of squares), computed in O(C^3) instead of O(N) per evaluation. Everything after that is lme4's
# and lmerTest's own procedure: the same theta parameterisation (Cholesky factors relative to sigma,
# terms ordered by lme4's rule), the same optimizer call (lme4:::optwrap), boundary restarts,
# convergence checks (lme4:::checkConv), and lmerTest's Satterthwaite df (numDeriv Hessian of the
# deviance in (theta, sigma) and Jacobian of vcov(beta)). tests/rbridge/test_crossed.R-style golden
# tests compare every number with lmer()/lmerTest on the same data.
# Plain functions; sourcing this file has no side effects.

vs_crossed_spec <- function(person = "participant", person_class = "nationality", columns = "model") {
  list(person = person, person_class = person_class, columns = as.character(columns))
}

vs_crossed_skip <- function(reason) structure(list(), reason = reason, class = "vs_crossed_skip")

# The grouping expression of a bar term as a vector of variable names (a:b:c -> c("a","b","c")).
vs_crossed_group_vars <- function(expr) all.vars(expr)

# lme4's names for the random-effect terms after `||` expansion, and the terms themselves.
vs_crossed_bars <- function(formula) {
  rhs <- formula[[length(formula)]]
  bars <- lme4::findbars(lme4::expandDoubleVerts(rhs))
  if (!length(bars)) stop("lmer needs at least one random-effect term such as (1 | participant)", call. = FALSE)
  bars
}

# Row index of each (class, condition) cell and a check that `values` are constant within cells.
vs_crossed_cell_constant <- function(values, cell) {
  values <- as.matrix(values)
  first <- match(seq_len(max(cell)), cell)
  ref <- values[first[cell], , drop = FALSE]
  all(abs(values - ref) <= 1e-12 * pmax(1, abs(ref)))
}

vs_crossed_setup <- function(formula, data, spec) {
  person <- spec$person; klass <- spec$person_class; columns <- spec$columns
  needed <- c(person, klass, columns)
  if (!all(needed %in% names(data))) return(vs_crossed_skip("design columns missing"))
  response <- all.vars(formula[[2]])
  if (length(response) != 1 || !is.numeric(data[[response]])) return(vs_crossed_skip("response"))
  if (anyNA(data[[response]])) return(vs_crossed_skip("missing responses"))
  pid <- as.character(data[[person]])
  cond_key <- if (length(columns) == 1) as.character(data[[columns]]) else
    do.call(paste, c(lapply(columns, function(v) as.character(data[[v]])), sep = "\r"))
  cond_levels <- unique(cond_key)
  cond <- match(cond_key, cond_levels)
  n_cond <- length(cond_levels)
  people <- unique(pid)
  pidx <- match(pid, people)
  n_people <- length(people)
  if (nrow(data) != n_people * n_cond) return(vs_crossed_skip("not every person has every condition"))
  cell_count <- tabulate((pidx - 1L) * n_cond + cond, n_people * n_cond)
  if (any(cell_count != 1L)) return(vs_crossed_skip("a person x condition cell is empty or repeated"))
  person_class <- as.character(data[[klass]])
  class_of_person <- person_class[match(seq_len(n_people), pidx)]
  if (any(person_class != class_of_person[pidx])) return(vs_crossed_skip("class varies within a person"))
  classes <- sort(unique(class_of_person))
  n_class <- length(classes)
  cls <- match(person_class, classes)
  cell <- (cls - 1L) * n_cond + cond  # row of the S*C class-mean space

  fixed_formula <- lme4::nobars(formula)
  X_full <- stats::model.matrix(fixed_formula, data)
  if (!vs_crossed_cell_constant(X_full, cell)) return(vs_crossed_skip("a fixed covariate varies within a class x condition cell"))
  first_row <- match(seq_len(n_class * n_cond), cell)
  if (anyNA(first_row)) return(vs_crossed_skip("a class lacks a condition"))
  X <- X_full[first_row, , drop = FALSE]
  if (qr(X)$rank < ncol(X)) return(vs_crossed_skip("fixed effects are rank deficient"))
  rm(X_full)

  sizes <- as.numeric(tabulate(match(class_of_person, classes), n_class))
  if (any(sizes < 2)) return(vs_crossed_skip("a class has fewer than 2 people"))
  y <- data[[response]]
  ybar <- matrix(0, n_class, n_cond)
  scatter <- vector("list", n_class)
  for (s in seq_len(n_class)) {
    rows <- which(cls == s)
    members <- unique(pidx[rows])
    Y <- matrix(NA_real_, length(members), n_cond)
    Y[cbind(match(pidx[rows], members), cond[rows])] <- y[rows]
    ybar[s, ] <- colMeans(Y)
    centred <- sweep(Y, 2, ybar[s, ])
    scatter[[s]] <- crossprod(centred)
  }

  bars <- vs_crossed_bars(formula)
  terms <- vector("list", length(bars))
  for (k in seq_along(bars)) {
    bar <- bars[[k]]
    gvars <- vs_crossed_group_vars(bar[[3]])
    if (!all(gvars %in% names(data))) return(vs_crossed_skip("grouping variable missing"))
    mm <- stats::model.matrix(eval(substitute(~foo, list(foo = bar[[2]]))), data)
    if (!vs_crossed_cell_constant(mm, cell)) return(vs_crossed_skip("a random-effect covariate varies within a cell"))
    is_person <- person %in% gvars
    other <- setdiff(gvars, person)
    if (length(other)) {
      okey <- do.call(paste, c(lapply(other, function(v) as.character(data[[v]])), sep = "\r"))
      if (!vs_crossed_cell_constant(match(okey, unique(okey)), cond)) {
        return(vs_crossed_skip("a grouping factor varies within a condition"))
      }
      olev <- match(okey[match(seq_len(n_cond), cond)], unique(okey[match(seq_len(n_cond), cond)]))
    } else {
      olev <- rep(1L, n_cond)
    }
    if (!is_person && !length(other)) return(vs_crossed_skip("grouping factor"))
    n_other <- max(olev)
    nc <- ncol(mm)
    # one row per condition (person terms, per class) or per class x condition (the others)
    block <- function(rows_mm, lev) {
      z <- matrix(0, length(lev), nc * n_other)
      for (j in seq_len(nc)) z[cbind(seq_along(lev), (lev - 1L) * nc + j)] <- rows_mm[, j]
      z
    }
    if (is_person) {
      z <- lapply(seq_len(n_class), function(s) block(mm[first_row[(s - 1L) * n_cond + seq_len(n_cond)], , drop = FALSE], olev))
      nl <- n_people * n_other
    } else {
      z <- block(mm[first_row, , drop = FALSE], rep(olev, n_class))
      nl <- n_other
    }
    terms[[k]] <- list(name = paste(deparse(bar, width.cutoff = 500L), collapse = " "),
                       group = paste(gvars, collapse = ":"), cnms = colnames(mm), nc = nc,
                       nl = nl, n_other = n_other, person = is_person, z = z)
  }
  nl <- vapply(terms, `[[`, 0, "nl")
  if (any(diff(nl) > 0)) terms <- terms[rev(order(nl))]  # lme4's term order (mkReTrms)
  nth <- vapply(terms, function(t) t$nc * (t$nc + 1L) / 2L, 0)
  thoff <- cumsum(c(0, nth))
  lower <- unlist(lapply(terms, function(t) {
    lt <- lower.tri(diag(t$nc), diag = TRUE)
    ifelse(row(diag(t$nc))[lt] == col(diag(t$nc))[lt], 0, -Inf)
  }))
  n_obs <- nrow(data)
  vs_crossed_prepare(list(N = n_obs, X = X, fixed = colnames(X), classes = classes, sizes = sizes,
                          C = n_cond, ybar = ybar, scatter = scatter, terms = terms, thoff = thoff,
                          lower = lower, W = rep(sqrt(sizes), each = n_cond), n_people = n_people))
}

vs_crossed_lambda <- function(theta, nc) {
  L <- matrix(0, nc, nc)
  L[lower.tri(L, diag = TRUE)] <- theta
  L
}

# Precomputations that do not depend on theta: how each term enters the two strata.
#   person terms    per class: Z_s (C x q), and S_s Z_s for the deviation stratum;
#   per-condition   condition-level terms with one level per condition: a block of the S x S
#                   covariance of the class means at each condition (handled exactly, vectorised);
#   coarser         other condition-level terms (model when conditions are model x language x
#                   persona): low-rank columns of the mean-space covariance (Woodbury).
vs_crossed_prepare <- function(setup) {
  C <- setup$C; S <- length(setup$classes)
  for (k in seq_along(setup$terms)) {
    t <- setup$terms[[k]]
    if (t$person) {
      t$kind <- "person"
      t$sz <- lapply(seq_len(S), function(s) setup$scatter[[s]] %*% t$z[[s]])
    } else if (t$n_other == C) {
      t$kind <- "condition"
      # the one non-zero column block of each row: the covariates of that row's own level
      t$zc <- t(vapply(seq_len(nrow(t$z)), function(r) {
        lev <- ((r - 1L) %% C) + 1L
        t$z[r, (lev - 1L) * t$nc + seq_len(t$nc)]
      }, numeric(t$nc)))
      if (t$nc == 1) t$zc <- matrix(t$zc, ncol = 1)
      t$zc <- t$zc[, , drop = FALSE]
      t$wzc <- setup$W * (if (t$nc == 1) matrix(t$zc, ncol = 1) else t$zc)
    } else {
      t$kind <- "coarse"
      t$wz <- setup$W * t$z
    }
    setup$terms[[k]] <- t
  }
  setup$trace_scatter <- vapply(setup$scatter, function(m) sum(diag(m)), 0)
  setup$Xw <- setup$W * setup$X
  setup$zw <- setup$W * as.vector(t(setup$ybar))
  setup
}

# Cholesky factors of C blocks of size S x S at once: A[[i]][[j]] are length-C vectors.
vs_block_chol <- function(A) {
  S <- length(A)
  L <- lapply(seq_len(S), function(i) lapply(seq_len(S), function(j) 0))
  for (j in seq_len(S)) {
    d <- A[[j]][[j]]
    for (k in seq_len(j - 1L)) d <- d - L[[j]][[k]]^2
    if (any(!(d > 0))) stop("block not positive definite", call. = FALSE)
    L[[j]][[j]] <- sqrt(d)
    for (i in seq_len(S)[seq_len(S) > j]) {
      v <- A[[i]][[j]]
      for (k in seq_len(j - 1L)) v <- v - L[[i]][[k]] * L[[j]][[k]]
      L[[i]][[j]] <- v / L[[j]][[j]]
    }
  }
  L
}

# Solve L_c y_c = b_c for every condition c; B has rows (class s, condition c), class-major.
vs_block_forward <- function(L, B, C) {
  B <- as.matrix(B)
  S <- length(L)
  Y <- B
  for (i in seq_len(S)) {
    rows <- (i - 1L) * C + seq_len(C)
    v <- B[rows, , drop = FALSE]
    for (k in seq_len(i - 1L)) v <- v - L[[i]][[k]] * Y[(k - 1L) * C + seq_len(C), , drop = FALSE]
    Y[rows, ] <- v / L[[i]][[i]]
  }
  Y
}

# Everything lme4's deviance function knows at theta, for the profiled REML/ML criterion.
vs_crossed_state <- function(setup, theta) {
  C <- setup$C; S <- length(setup$classes)
  ld <- 0; pwrss_dev <- 0
  G <- NULL
  person_cols <- vector("list", S)
  person_sz <- vector("list", S)
  per_cond <- NULL
  for (k in seq_along(setup$terms)) {
    t <- setup$terms[[k]]
    L <- vs_crossed_lambda(theta[setup$thoff[k] + seq_len(t$nc * (t$nc + 1) / 2)], t$nc)
    big <- if (t$n_other == 1) L else kronecker(diag(t$n_other), L)
    if (t$kind == "person") {
      for (s in seq_len(S)) {
        person_cols[[s]] <- cbind(person_cols[[s]], t$z[[s]] %*% big)
        person_sz[[s]] <- cbind(person_sz[[s]], t$sz[[s]] %*% big)
      }
    } else if (t$kind == "condition") {
      per_cond <- cbind(per_cond, t$wzc %*% L)
    } else {
      G <- cbind(G, t$wz %*% big)
    }
  }
  # deviation stratum: Sigma_s = I + Z Z' (Z = person columns), by the matrix determinant lemma
  for (s in seq_len(S)) {
    Z <- person_cols[[s]]
    if (is.null(Z)) {
      pwrss_dev <- pwrss_dev + setup$trace_scatter[s]
      next
    }
    RZ <- chol(diag(ncol(Z)) + crossprod(Z))
    logdet <- 2 * sum(log(diag(RZ)))
    SZ <- person_sz[[s]]
    inner <- backsolve(RZ, crossprod(Z, SZ), transpose = TRUE)
    inner <- backsolve(RZ, t(inner), transpose = TRUE)
    pwrss_dev <- pwrss_dev + setup$trace_scatter[s] - sum(diag(inner))
    ld <- ld + (setup$sizes[s] - 1) * logdet
  }
  # mean stratum: V = A + G G', A = I + per-condition blocks, G = person blocks and coarser terms
  person_block <- NULL
  for (s in seq_len(S)) {
    Z <- person_cols[[s]]
    if (is.null(Z)) next
    block <- matrix(0, S * C, ncol(Z))
    block[(s - 1L) * C + seq_len(C), ] <- Z  # cov(sqrt(P_s) ybar_s) = Sigma_s: no W here
    person_block <- cbind(person_block, block)
  }
  G <- cbind(person_block, G)
  Xw <- setup$Xw; zw <- setup$zw
  if (!is.null(per_cond)) {
    A <- lapply(seq_len(S), function(i) lapply(seq_len(S), function(j) {
      v <- rowSums(per_cond[(i - 1L) * C + seq_len(C), , drop = FALSE] * per_cond[(j - 1L) * C + seq_len(C), , drop = FALSE])
      if (i == j) v + 1 else v
    }))
    LA <- vs_block_chol(A)
    for (s in seq_len(S)) ld <- ld + 2 * sum(log(LA[[s]][[s]]))
    Xw <- vs_block_forward(LA, Xw, C)
    zw <- drop(vs_block_forward(LA, zw, C))
    if (!is.null(G)) G <- vs_block_forward(LA, G, C)
  }
  if (is.null(G)) {
    proj <- function(a, b) crossprod(a, b)
  } else {
    RM <- chol(diag(ncol(G)) + crossprod(G))
    ld <- ld + 2 * sum(log(diag(RM)))
    proj <- function(a, b) {
      ua <- backsolve(RM, crossprod(G, a), transpose = TRUE)
      ub <- backsolve(RM, crossprod(G, b), transpose = TRUE)
      crossprod(a, b) - crossprod(ua, ub)
    }
  }
  XtVX <- proj(Xw, Xw)
  RX <- chol(XtVX)
  beta <- drop(backsolve(RX, backsolve(RX, proj(Xw, zw), transpose = TRUE)))
  resid <- zw - drop(Xw %*% beta)
  pwrss <- pwrss_dev + drop(proj(resid, resid))
  list(ldL2 = ld, ldRX2 = 2 * sum(log(diag(RX))), pwrss = pwrss, beta = beta, RX = RX)
}

vs_crossed_devfun <- function(setup, REML = TRUE) {
  N <- setup$N; p <- ncol(setup$X)
  function(theta) {
    st <- tryCatch(vs_crossed_state(setup, theta), error = function(e) NULL)
    if (is.null(st)) return(Inf)
    if (REML) {
      st$ldL2 + st$ldRX2 + (N - p) * (1 + log(2 * pi * st$pwrss / (N - p)))
    } else {
      st$ldL2 + N * (1 + log(2 * pi * st$pwrss / N))
    }
  }
}

# lmerTest's devfun_vp: the deviance at (theta, sigma), not profiled.
vs_crossed_dev_vp <- function(varpar, setup, REML) {
  k <- length(varpar); sigma2 <- varpar[k]^2
  st <- vs_crossed_state(setup, varpar[-k])
  dev <- st$ldL2 + st$pwrss / sigma2 + setup$N * log(2 * pi * sigma2)
  if (!REML) return(dev)
  dev + st$ldRX2 - ncol(setup$X) * log(2 * pi * sigma2)
}

vs_crossed_covbeta <- function(varpar, setup) {
  k <- length(varpar)
  st <- vs_crossed_state(setup, varpar[-k])
  varpar[k]^2 * chol2inv(st$RX)
}

# lme4's optimizeLmer (restart at the edge, boundary check) around our deviance function.
vs_crossed_optimize <- function(devfun, start, lower, optimizer, calc_derivs) {
  optwrap <- utils::getFromNamespace("optwrap", "lme4")
  opt <- optwrap(optimizer, devfun, start, lower = lower, control = list(), adj = FALSE,
                 calc.derivs = FALSE)
  on_edge <- which(opt$par == lower)
  if (length(on_edge)) {
    d0 <- devfun(opt$par)
    bgrad <- vapply(on_edge, function(i) { th <- opt$par; th[i] <- lower[i] + 1e-5; (devfun(th) - d0) / 1e-5 }, 0)
    if (any(bgrad < 0)) {
      opt <- optwrap(optimizer, devfun, opt$par, lower = lower, control = list(), adj = FALSE,
                     calc.derivs = FALSE)
    }
  }
  bdiff <- opt$par - lower
  edge <- which(0 < bdiff & bdiff < 1e-5)
  if (length(edge)) {
    for (i in edge) {
      th <- opt$par; th[i] <- lower[i]
      if (devfun(th) < opt$fval) opt$par[i] <- lower[i]
    }
    opt$fval <- devfun(opt$par)
  }
  # lme4's convergence check needs the derivatives only when the fit is not singular (checkConv
  # stops at the singularity message otherwise): skip them there, they cost O(k^2) evaluations.
  singular <- any(opt$par[lower == 0] < 1e-4)
  derivs <- if (calc_derivs && !singular) {
    utils::getFromNamespace("deriv12", "lme4")(devfun, opt$par, fx = opt$fval)
  } else NULL
  attr(opt, "derivs") <- derivs
  opt
}

vs_crossed_checks <- function(setup) {
  for (t in setup$terms) {
    if (t$nl >= setup$N) {
      stop(sprintf("number of levels of each grouping factor must be < number of observations (problems: %s)", t$group), call. = FALSE)
    }
    if (setup$N <= t$nl * t$nc) {
      stop(sprintf("number of observations (=%d) <= number of random effects (=%d) for term (%s); the random-effects parameters and the residual variance (or scale parameter) are probably unidentifiable",
                   as.integer(setup$N), as.integer(t$nl * t$nc), t$name), call. = FALSE)
    }
  }
}

# One optimisation of the REML criterion (no Satterthwaite yet): what the simplification needs.
vs_crossed_fit_core <- function(formula, data, spec = vs_crossed_spec(), control = vs_fit_control()) {
  formula <- vs_parse_formula(formula)
  setup <- vs_crossed_setup(formula, data, spec)
  if (inherits(setup, "vs_crossed_skip")) return(setup)
  vs_crossed_checks(setup)
  devfun <- vs_crossed_devfun(setup, control$REML)
  start <- as.numeric(is.finite(setup$lower))
  run <- vs_collect({
    opt <- vs_crossed_optimize(devfun, start, setup$lower, control$optimizer, control$calc_derivs)
    conv <- utils::getFromNamespace("checkConv", "lme4")(
      attr(opt, "derivs"), opt$par, ctrl = lme4::lmerControl()$checkConv, lbound = setup$lower)
    list(opt = opt, conv = conv)
  })
  opt <- run$value$opt
  theta <- opt$par
  st <- vs_crossed_state(setup, theta)
  p <- ncol(setup$X); N <- setup$N
  sigma2 <- st$pwrss / if (control$REML) (N - p) else N
  vcov_beta <- sigma2 * chol2inv(st$RX)
  dimnames(vcov_beta) <- list(setup$fixed, setup$fixed)
  singular <- any(theta[setup$lower == 0] < 1e-4)
  notes <- unique(run$notes)
  if (singular && !any(grepl("singular", notes))) notes <- c(notes, "boundary (singular) fit")
  converged <- (is.null(opt$convergence) || opt$convergence == 0) &&
    (is.null(run$value$conv$code) || all(run$value$conv$code == 0)) &&
    !any(grepl("failed to converge|convergence code", notes))
  n_par <- p + length(theta) + 1
  ll <- -opt$fval / 2
  attempt <- list(engine = "complete crossing (exact)", optimizer = control$optimizer,
                  sigma = sqrt(sigma2), converged = converged, singular = singular, logLik = ll, AIC = -2 * ll + 2 * n_par,
                  messages = notes, beta = stats::setNames(st$beta, setup$fixed),
                  vcov_beta_approx = vcov_beta, components = vs_crossed_components(setup, theta, sqrt(sigma2)))
  attempt$finish <- function() vs_crossed_finish(setup, opt, theta, sqrt(sigma2), attempt, control)
  attempt
}

vs_crossed_finish <- function(setup, opt, theta, sigma, attempt, control) {
  inference <- vs_crossed_inference(setup, theta, sigma, attempt$beta, attempt$vcov_beta_approx, control)
  notes <- unique(c(attempt$messages, inference$notes))
  p <- ncol(setup$X); N <- setup$N
  tidy <- vs_contrast_rows(inference, diag(p), setup$fixed, control$conf_level)
  n_par <- p + length(theta) + 1
  ll <- attempt$logLik
  glance <- data.frame(method = "lmer", nobs = N, sigma = sigma, logLik = ll,
                       AIC = -2 * ll + 2 * n_par, BIC = -2 * ll + log(N) * n_par,
                       deviance = opt$fval, df_residual = N - n_par, REML = control$REML,
                       optimizer = control$optimizer, ddf = "Satterthwaite", singular = attempt$singular,
                       messages = paste(notes, collapse = " | "), stringsAsFactors = FALSE)
  groups <- unique(vapply(setup$terms, `[[`, "", "group"))
  for (g in groups) {
    t <- setup$terms[[match(g, vapply(setup$terms, `[[`, "", "group"))]]
    glance[[paste0("n_", g)]] <- as.integer(t$nl)
  }
  list(tidy = tidy, random = vs_crossed_varcorr(setup, theta, sigma), glance = glance,
       inference = inference, engine = attempt$engine, converged = attempt$converged)
}

vs_crossed_fit <- function(formula, data, spec = vs_crossed_spec(), control = vs_fit_control()) {
  attempt <- vs_crossed_fit_core(formula, data, spec, control)
  if (inherits(attempt, "vs_crossed_skip")) return(attempt)
  attempt$finish()
}

vs_crossed_inference <- function(setup, theta, sigma, beta, vcov_beta, control) {
  varpar <- c(theta, sigma)
  notes <- character()
  h <- numDeriv::hessian(func = vs_crossed_dev_vp, x = varpar, setup = setup, REML = control$REML)
  eig <- eigen(h, symmetric = TRUE)
  tol <- 1e-8
  neg <- eig$values < -tol; zero <- abs(eig$values) <= tol
  if (any(neg)) {
    notes <- c(notes, sprintf("Model failed to converge with %d negative %s: %s", sum(neg),
                              if (sum(neg) > 1) "eigenvalues" else "eigenvalue",
                              paste(sprintf("%1.1e", eig$values[neg]), collapse = " ")))
  }
  if (any(zero)) {
    notes <- c(notes, sprintf("Model may not have converged with %d %s close to zero: %s", sum(zero),
                              if (sum(zero) > 1) "eigenvalues" else "eigenvalue",
                              paste(sprintf("%1.1e", eig$values[zero]), collapse = " ")))
  }
  pos <- eig$values > tol
  h_inv <- eig$vectors[, pos, drop = FALSE] %*% diag(1 / eig$values[pos], nrow = sum(pos)) %*%
    t(eig$vectors[, pos, drop = FALSE])
  jac <- numDeriv::jacobian(func = vs_crossed_covbeta, x = varpar, setup = setup)
  p <- length(beta)
  jac_list <- lapply(seq_len(ncol(jac)), function(i) array(jac[, i], dim = c(p, p)))
  list(kind = "satterthwaite", beta = beta, vcov_beta = vcov_beta, vcov_varpar = 2 * h_inv,
       jac_list = jac_list, notes = notes)
}

# lme4's as.data.frame(VarCorr(fit)) in our vocabulary (group, term, estimate as SD or correlation).
vs_crossed_varcorr <- function(setup, theta, sigma) {
  groups <- make.unique(vapply(setup$terms, `[[`, "", "group"))
  rows <- list()
  for (k in seq_along(setup$terms)) {
    t <- setup$terms[[k]]
    L <- vs_crossed_lambda(theta[setup$thoff[k] + seq_len(t$nc * (t$nc + 1) / 2)], t$nc)
    v <- sigma^2 * tcrossprod(L)
    sds <- sqrt(diag(v))
    rows[[length(rows) + 1]] <- data.frame(group = groups[k], term = paste0("sd__", t$cnms),
                                           estimate = sds, stringsAsFactors = FALSE)
    if (t$nc > 1) {
      lt <- which(lower.tri(v), arr.ind = TRUE)
      lt <- lt[order(lt[, "col"], lt[, "row"]), , drop = FALSE]
      cors <- ifelse(sds[lt[, "row"]] * sds[lt[, "col"]] > 0, v[lt] / (sds[lt[, "row"]] * sds[lt[, "col"]]), NaN)
      rows[[length(rows) + 1]] <- data.frame(
        group = groups[k], term = paste0("cor__", t$cnms[lt[, "col"]], ".", t$cnms[lt[, "row"]]),
        estimate = cors, stringsAsFactors = FALSE)
    }
  }
  rows[[length(rows) + 1]] <- data.frame(group = "Residual", term = "sd__Observation", estimate = sigma,
                                         stringsAsFactors = FALSE)
  out <- do.call(rbind, rows)
  rownames(out) <- NULL
  out
}

# One row per random-effect component (a column of a term): its SD and the variance it adds to an
# observation (SD^2 x mean square of its covariate over the design), the simplification's yardstick.
vs_crossed_components <- function(setup, theta, sigma) {
  rows <- list()
  for (k in seq_along(setup$terms)) {
    t <- setup$terms[[k]]
    L <- vs_crossed_lambda(theta[setup$thoff[k] + seq_len(t$nc * (t$nc + 1) / 2)], t$nc)
    sds <- sigma * sqrt(rowSums(L^2))
    zz <- if (t$person) do.call(rbind, t$z) else t$z
    weight <- rep(setup$sizes, each = setup$C)  # rows are class x condition, people per class
    ms <- vapply(seq_len(t$nc), function(j) {
      cols <- (seq_len(t$n_other) - 1L) * t$nc + j
      stats::weighted.mean(rowSums(zz[, cols, drop = FALSE])^2, weight)
    }, 0)
    rows[[k]] <- data.frame(group = t$group, component = t$cnms, sd = sds, variance_added = sds^2 * ms,
                            stringsAsFactors = FALSE)
  }
  do.call(rbind, rows)
}
