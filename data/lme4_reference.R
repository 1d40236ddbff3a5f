# Maximum-likelihood reference fits with R's lme4 for data/cbpp.csv,
# data/sleepstudy.csv, data/grouseticks.csv and data/bangladesh.csv (urban as a factor slope), plus the classic pooled estimate for
# data/eight_schools.csv.
#
# Usage (from the repository root):
#
#     Rscript data/lme4_reference.R            # reads and writes in data/
#     Rscript data/lme4_reference.R DIR        # reads DIR/*.csv, writes DIR/lme4_reference.json
#
# Needs R with the lme4 and jsonlite packages (Debian: apt-get install r-cran-lme4,
# which pulls in r-cran-jsonlite). The CSVs come from data/build_lme4_examples.py.
# lmer fits use REML = FALSE (maximum likelihood); glmer fits use its default
# Laplace approximation (nAGQ = 1); glmer.nb also estimates the negative-binomial theta
# by maximum likelihood. The JSON is written atomically (temp file + rename).

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

script_dir <- function() {
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(file_arg) == 1) dirname(normalizePath(sub("^--file=", "", file_arg))) else "."
}

args <- commandArgs(trailingOnly = TRUE)
data_dir <- if (length(args) >= 1) args[[1]] else script_dir()

fail <- function(...) {
  message("lme4_reference.R: error: ", ...)
  quit(status = 1)
}

read_checked <- function(name, columns, n_rows) {
  path <- file.path(data_dir, name)
  if (!file.exists(path)) {
    fail(path, " not found; run data/build_lme4_examples.py first")
  }
  d <- read.csv(path, stringsAsFactors = FALSE)
  if (!identical(names(d), columns)) {
    fail(name, ": columns are ", paste(names(d), collapse = ","),
         ", expected ", paste(columns, collapse = ","))
  }
  if (nrow(d) != n_rows) fail(name, ": expected ", n_rows, " rows, got ", nrow(d))
  d
}

# Fit with warnings collected rather than printed, so they end up in the JSON.
fit_collecting <- function(expr) {
  warns <- character(0)
  fit <- withCallingHandlers(expr, warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  list(fit = fit, warnings = warns)
}

summarise_fit <- function(res, data_file, formula_text, family_text, method_text) {
  fit <- res$fit
  coefs <- summary(fit)$coefficients
  fixed <- list()
  for (term in rownames(coefs)) {
    fixed[[term]] <- list(estimate = unname(coefs[term, "Estimate"]),
                          se = unname(coefs[term, "Std. Error"]))
  }
  vc <- as.data.frame(VarCorr(fit))
  re_sd <- list()
  re_cor <- list()
  residual_sd <- NULL
  for (i in seq_len(nrow(vc))) {
    grp <- vc$grp[[i]]
    if (grp == "Residual") {
      residual_sd <- vc$sdcor[[i]]
      next
    }
    # Independent terms for one factor appear as "subject", "subject.1", ...
    grp <- sub("\\.[0-9]+$", "", grp)
    if (is.na(vc$var2[[i]])) {
      if (is.null(re_sd[[grp]])) re_sd[[grp]] <- list()
      re_sd[[grp]][[vc$var1[[i]]]] <- vc$sdcor[[i]]
    } else {
      if (is.null(re_cor[[grp]])) re_cor[[grp]] <- list()
      re_cor[[grp]][[paste(vc$var1[[i]], vc$var2[[i]], sep = ",")]] <- vc$sdcor[[i]]
    }
  }
  conv_msgs <- fit@optinfo$conv$lme4$messages
  out <- list(
    data = data_file,
    formula = formula_text,
    family = family_text,
    method = method_text,
    n_obs = nobs(fit),
    n_groups = as.list(ngrps(fit)),
    fixed_effects = fixed,
    random_effects_sd = re_sd
  )
  if (length(re_cor) > 0) out$random_effects_cor <- re_cor
  if (!is.null(residual_sd)) out$residual_sd <- residual_sd
  out$log_likelihood <- as.numeric(logLik(fit))
  out$singular <- isSingular(fit)
  out$convergence_messages <- if (is.null(conv_msgs)) character(0) else conv_msgs
  out$warnings <- res$warnings
  out
}

cbpp <- read_checked("cbpp.csv", c("herd", "period", "incidence", "size"), 56)
sleepstudy <- read_checked("sleepstudy.csv", c("subject", "days", "reaction"), 180)
grouseticks <- read_checked(
  "grouseticks.csv", c("index", "ticks", "brood", "height", "year", "location"), 403
)
eight <- read_checked("eight_schools.csv", c("school", "effect", "se"), 8)
bangladesh <- read_checked(
  "bangladesh.csv",
  c("woman", "district", "use_contraception", "living_children", "age_centered", "urban"), 1934
)
# mlmRev's Contraception codes urban as a factor N/Y: a factor slope, one dummy (Y).
bangladesh$urban <- factor(ifelse(bangladesh$urban == 1, "Y", "N"), levels = c("N", "Y"))
bangladesh$district <- factor(bangladesh$district)
cbpp$herd <- factor(cbpp$herd)
sleepstudy$subject <- factor(sleepstudy$subject)
grouseticks$brood <- factor(grouseticks$brood)
grouseticks$location <- factor(grouseticks$location)

glmer_method <- "maximum likelihood, Laplace approximation (glmer default, nAGQ = 1)"
lmer_method <- "maximum likelihood (lmer, REML = FALSE)"
binomial_text <- "binomial(link = \"logit\")"
gaussian_text <- "gaussian(link = \"identity\")"
poisson_text <- "poisson(link = \"log\")"
negbin_text <- "negative binomial(link = \"log\"), theta estimated"
negbin_method <- paste(
  "maximum likelihood, Laplace approximation (glmer.nb: theta optimised",
  "by alternating with glmer fits, nAGQ = 1)"
)

models <- list()

f <- cbind(incidence, size - incidence) ~ 1 + (1 | herd)
models$cbpp_intercept <- summarise_fit(
  fit_collecting(glmer(f, family = binomial, data = cbpp)),
  "cbpp.csv", "cbind(incidence, size - incidence) ~ 1 + (1 | herd)",
  binomial_text, glmer_method
)

f <- cbind(incidence, size - incidence) ~ factor(period) + (1 | herd)
models$cbpp_period <- summarise_fit(
  fit_collecting(glmer(f, family = binomial, data = cbpp)),
  "cbpp.csv", "cbind(incidence, size - incidence) ~ factor(period) + (1 | herd)",
  binomial_text, glmer_method
)

f <- reaction ~ days + (1 | subject) + (0 + days | subject)
models$sleepstudy_uncorrelated <- summarise_fit(
  fit_collecting(lmer(f, data = sleepstudy, REML = FALSE)),
  "sleepstudy.csv", "reaction ~ days + (1 | subject) + (0 + days | subject)",
  gaussian_text, lmer_method
)

f <- reaction ~ days + (days | subject)
models$sleepstudy_correlated <- summarise_fit(
  fit_collecting(lmer(f, data = sleepstudy, REML = FALSE)),
  "sleepstudy.csv", "reaction ~ days + (days | subject)",
  gaussian_text, lmer_method
)

f <- ticks ~ factor(year) + (1 | brood) + (1 | location)
models$grouseticks_poisson <- summarise_fit(
  fit_collecting(glmer(f, family = poisson, data = grouseticks)),
  "grouseticks.csv", "ticks ~ factor(year) + (1 | brood) + (1 | location)",
  poisson_text, glmer_method
)

f <- ticks ~ factor(year) + (1 | location)
res <- fit_collecting(glmer.nb(f, data = grouseticks))
models$grouseticks_negbin <- summarise_fit(
  res, "grouseticks.csv", "ticks ~ factor(year) + (1 | location)", negbin_text, negbin_method
)
models$grouseticks_negbin$theta <- unname(getME(res$fit, "glmer.nb.theta"))

f <- use_contraception ~ urban + (1 + urban | district)
models$bangladesh_urban_slope <- summarise_fit(
  fit_collecting(glmer(f, family = binomial, data = bangladesh)),
  "bangladesh.csv", "use_contraception ~ urban + (1 + urban | district), urban a factor N/Y",
  binomial_text, glmer_method
)

# Complete pooling: precision-weighted mean of the school effects (no lme4 fit).
w <- 1 / eight$se^2
eight_pooled <- list(
  data = "eight_schools.csv",
  method = "complete pooling: precision-weighted mean, weights 1 / se^2",
  formula = "estimate = sum(effect / se^2) / sum(1 / se^2); se = 1 / sqrt(sum(1 / se^2))",
  estimate = sum(w * eight$effect) / sum(w),
  se = 1 / sqrt(sum(w))
)

result <- list(
  generated_by = "data/lme4_reference.R",
  r_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  matrix_version = as.character(packageVersion("Matrix")),
  estimation = paste(
    "Maximum likelihood throughout: lmer fits use REML = FALSE;",
    "glmer fits use the Laplace approximation (nAGQ = 1), lme4's default."
  ),
  log_likelihood_note = paste(
    "log_likelihood is logLik(fit) with all constants: the binomial ones include",
    "sum(lchoose(size, incidence)), the Gaussian ones the -n/2 * log(2 * pi) term."
  ),
  reml = FALSE,
  models = models,
  eight_schools_pooled = eight_pooled
)

out <- file.path(data_dir, "lme4_reference.json")
tmp <- tempfile(pattern = ".lme4_reference.json.", tmpdir = data_dir, fileext = ".tmp")
ok <- FALSE
tryCatch({
  writeLines(toJSON(result, auto_unbox = TRUE, pretty = TRUE, digits = NA, null = "null"),
             tmp, useBytes = TRUE)
  Sys.chmod(tmp, "0644")
  ok <- file.rename(tmp, out)
}, finally = if (!ok) unlink(tmp))
if (!ok) fail("could not write ", out)
cat("wrote", out, "\n")
