# Value-ranking study (seed 000): CN vs US in a mixed model of mean ranks.
#
#   vs_ranking_origin_tests(formula, data, control = vs_fit_control())
#
# fits `formula` (e.g. mean_rank ~ origin * dimension + (1 | model)) with lmerTest, origin coded
# CN = +0.5 / US = -0.5 and dimension with contr.sum, and returns
#   list(anova = <type III F tests, one row per fixed term>,
#        contrasts = <CN - US per dimension from emmeans>,
#        notes = <one-row data frame: messages, singular>).
# The fixed effects, variance components and fit statistics come from vs_fit() in fit.R (called
# separately through the bridge). Plain functions; sourcing this file has no side effects.
# With Rscript: source("R/fit.R"); source("R/ranking.R"); vs_ranking_origin_tests(...)

vs_ranking_prepare <- function(data) {
  needed <- c("origin", "dimension")
  missing <- setdiff(needed, names(data))
  if (length(missing)) {
    stop(sprintf("ranking data lack column(s): %s", paste(missing, collapse = ", ")), call. = FALSE)
  }
  origin <- factor(as.character(data$origin), levels = c("CN", "US"))
  if (anyNA(origin)) stop("origin must be 'CN' or 'US'", call. = FALSE)
  if (length(unique(origin)) != 2) stop("both origins (CN and US) are needed", call. = FALSE)
  stats::contrasts(origin) <- matrix(c(0.5, -0.5), ncol = 1, dimnames = list(c("CN", "US"), "CN"))
  dimension <- factor(as.character(data$dimension))
  stats::contrasts(dimension) <- stats::contr.sum(nlevels(dimension))
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
  data.frame(term = paste0("CN - US | ", s$dimension), dimension = as.character(s$dimension),
             estimate = s$estimate, std_error = s$SE, df = s$df, statistic = s$t.ratio,
             p_value = s$p.value, conf_low = s$lower.CL, conf_high = s$upper.CL,
             stringsAsFactors = FALSE, row.names = NULL)
}

vs_ranking_origin_tests <- function(formula, data, control = vs_fit_control()) {
  formula <- stats::as.formula(formula)
  data <- vs_ranking_prepare(data)
  notes <- character()
  fit <- withCallingHandlers(
    lmerTest::lmer(formula, data = data, REML = TRUE,
                   control = lme4::lmerControl(optimizer = control$optimizer)),
    warning = function(w) { notes <<- c(notes, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { notes <<- c(notes, trimws(conditionMessage(m))); invokeRestart("muffleMessage") })
  singular <- lme4::isSingular(fit)
  if (singular && !any(grepl("singular", notes))) notes <- c(notes, "boundary (singular) fit")
  list(anova = vs_ranking_anova(fit, control$ddf),
       contrasts = vs_ranking_contrasts(fit, control$ddf, control$conf_level),
       notes = data.frame(messages = paste(unique(notes), collapse = " | "), singular = singular,
                          stringsAsFactors = FALSE))
}
