# Reproduce a study's estimates/*.csv without Python, for reviewers:
#
#   Rscript R/run_models.R STUDY_DIR [OUT_DIR]
#
# Reads what `valuesurvey analyze` exported: similarity/rq_settings.csv (which instrument x analysis
# to fit, with which fits, ddf, random-effects choice, whether survey weights are used, and the
# study's levels of nationality and origin, reference last, e.g. "CN;US") and
# similarity/<instrument>_rq.csv (one row per person x LLM condition x removal level, with
# in_rq1/in_rq2/in_rq3 flags after the exclusion rule, each person's weight and participant_language,
# the prompt language the participant's country is paired with: the study's pairing as data). Writes OUT_DIR
# (default STUDY_DIR/estimates): <analysis>_<instrument>.csv, table2_<instrument>.csv,
# simple_effects_<instrument>.csv, fit_info.csv, random_effects.csv, coding.csv, simplification.csv.
# Then the analyses declared in study.yaml, from analyses/ (R/declared.R, decl_run_study):
# <name>.csv, <name>_emmeans.csv, <name>_contrasts.csv and declared_*.csv.
# Sourcing this file (as the Python bridge does) only defines functions.

rq_read_csv <- function(path) {
  if (!file.exists(path)) stop(sprintf("%s: file not found; run `valuesurvey analyze` first", path),
                               call. = FALSE)
  data.table::fread(path, data.table = FALSE, stringsAsFactors = FALSE, na.strings = c("", "NA"))
}

rq_write_csv <- function(frame, path) {
  tmp <- paste0(path, ".tmp")
  data.table::fwrite(frame, tmp, na = "")
  file.rename(tmp, path)
}

rq_run_study <- function(study_dir, out_dir = file.path(study_dir, "estimates")) {
  settings <- rq_read_csv(file.path(study_dir, "similarity", "rq_settings.csv"))
  dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
  all <- list(random = list(), glance = list(), coding = list(), simplification = list())
  for (instrument in unique(settings$instrument)) {
    data <- rq_read_csv(file.path(study_dir, "similarity", paste0(instrument, "_rq.csv")))
    data$participant <- as.character(data$participant)
    rows <- settings[settings$instrument == instrument, , drop = FALSE]
    tidy_parts <- list(); simple_parts <- list()
    for (i in seq_len(nrow(rows))) {
      analysis <- rows$analysis[i]
      control <- rq_control(fits = strsplit(rows$fits[i], "+", fixed = TRUE)[[1]], ddf = rows$ddf[i],
                            random = rows$random[i], weighted = rows$weighted[i] == 1,
                            nationality_levels = rows$nationality_levels[i], origin_levels = rows$origin_levels[i])
      subset <- data[data[[paste0("in_", analysis)]] == 1, , drop = FALSE]
      out <- rq_fit(subset, analysis, instrument = instrument, control = control)
      rq_write_csv(out$tidy, file.path(out_dir, paste0(rq_label(analysis, instrument), ".csv")))
      tidy_parts[[analysis]] <- out$tidy
      simple_parts[[analysis]] <- out$simple_effects
      for (part in c("random", "glance", "simplification")) all[[part]][[length(all[[part]]) + 1]] <- out[[part]]
      all$coding[[length(all$coding) + 1]] <- cbind(analysis = rq_label(analysis, instrument), out$coding)
    }
    rq_write_csv(rq_side_by_side(do.call(rbind, tidy_parts)),
                 file.path(out_dir, paste0("table2_", instrument, ".csv")))
    simple <- rq_bind(simple_parts)
    if (!is.null(simple)) rq_write_csv(simple, file.path(out_dir, paste0("simple_effects_", instrument, ".csv")))
  }
  rq_write_csv(rq_bind(all$glance), file.path(out_dir, "fit_info.csv"))
  rq_write_csv(rq_bind(all$random), file.path(out_dir, "random_effects.csv"))
  rq_write_csv(rq_bind(all$coding), file.path(out_dir, "coding.csv"))
  simplification <- rq_bind(all$simplification)
  if (!is.null(simplification)) rq_write_csv(simplification, file.path(out_dir, "simplification.csv"))
  invisible(out_dir)
}

rq_script_dir <- function() {
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg[1]))) else "R"
}

if (sys.nframe() == 0L && !interactive()) {
  rq_args <- commandArgs(trailingOnly = TRUE)
  if (length(rq_args) < 1 || length(rq_args) > 2) {
    stop("usage: Rscript R/run_models.R STUDY_DIR [OUT_DIR]", call. = FALSE)
  }
  suppressPackageStartupMessages({ library(lme4); library(lmerTest) })
  rq_dir <- rq_script_dir()
  for (file in c("fit.R", "crossed.R", "structures.R", "rq_models.R", "declared.R")) source(file.path(rq_dir, file))
  rq_out <- if (length(rq_args) == 2) rq_args[[2]] else file.path(rq_args[[1]], "estimates")
  rq_declared_only <- file.exists(file.path(rq_args[[1]], "analyses", "settings.csv")) &&
    !file.exists(file.path(rq_args[[1]], "similarity", "rq_settings.csv"))
  if (!rq_declared_only) rq_run_study(rq_args[[1]], rq_out)
  decl_run_study(rq_args[[1]], rq_out)  # the analyses declared in study.yaml (analyses/settings.csv)
  cat("wrote estimates for", rq_args[[1]], "\n")
}
