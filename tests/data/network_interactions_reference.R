# Reference numbers of tests/test_network_covariates.py (R 4.x, metafor 3.8-1).
# Rscript tests/data/network_interactions_reference.R   (from the repository root)
# Data: tests/data/network_interactions.csv, simulated (numpy seed 20261207): 6 trials
# (S1 three arms A/B/C), covariates age (planted interaction: B +0.04, C -0.03 per year on
# the log odds) and sex; outcomes y (0/1) and score (gaussian).
suppressMessages(library(metafor))
options(digits = 12)
d <- read.csv("tests/data/network_interactions.csv")
lev <- c("A", "B", "C")

# per trial: the family's regression on the treatment factor, the covariates centred at
# the trial's means, the factor x (age - mean(age)) interaction; the trial's base arm
# is its first treatment in network order
per_trial <- function(fam, response) {
  main <- list(); inter <- list(); Vm <- list(); Vi <- list()
  for (s in unique(d$study)) {
    x <- d[d$study == s, ]; arms <- lev[lev %in% x$treatment]; m <- length(arms) - 1
    x$trt <- factor(x$treatment, levels = arms)
    f <- as.formula(paste(response, "~ trt * I(age - mean(age)) + I(sex - mean(sex))"))
    fit <- if (fam == "gaussian") lm(f, data = x) else glm(f, family = binomial, data = x)
    b <- coef(fit); V <- vcov(fit)
    im <- paste0("trt", arms[-1]); ii <- paste0("trt", arms[-1], ":I(age - mean(age))")
    main[[s]] <- data.frame(study = s, t1 = arms[-1], t2 = arms[1], yi = unname(b[im]))
    inter[[s]] <- data.frame(study = s, t1 = arms[-1], t2 = arms[1], yi = unname(b[ii]))
    Vm[[s]] <- unname(V[im, im, drop = FALSE]); Vi[[s]] <- unname(V[ii, ii, drop = FALSE])
    if (s %in% c("S1", "S4")) {
      cat(fam, s, "coef", b[c(im, ii)], "\n")
      cat(fam, s, "vcov", V[c(im, ii), c(im, ii)], "\n")
    }
  }
  list(main = list(dat = do.call(rbind, main), V = bldiag(Vm)),
       inter = list(dat = do.call(rbind, inter), V = bldiag(Vi)))
}

pool <- function(cn, label) {
  dat <- cn$dat; V <- cn$V
  for (t in lev[-1]) dat[[t]] <- (dat$t1 == t) - (dat$t2 == t)
  dat$comp <- paste(dat$t1, dat$t2, sep = " vs ")
  for (m in c("REML", "ML")) {
    res <- rma.mv(yi, V, mods = ~ B + C - 1, random = ~ comp | study, rho = 1/2,
                  data = dat, method = m)
    cat(label, m, "estimate", coef(res), "se", res$se, "tau2", res$tau2, "\n")
  }
  fe <- rma.mv(yi, V, mods = ~ B + C - 1, data = dat)
  cat(label, "FE estimate", coef(fe), "se", fe$se, "\n")
}

b <- per_trial("binomial", "y")
pool(b$inter, "binomial interaction age")
pool(b$main, "binomial adjusted main")
g <- per_trial("gaussian", "score")
pool(g$inter, "gaussian interaction age")
pool(g$main, "gaussian adjusted main")

# Other families: the shipped test networks with x = ((row - 1) * 7) %% 13 (0-based row
# of the whole file); the first trial's factor and factor x x coefficients, and vcov
suppressMessages(library(survival))
other <- function(file) { d <- read.csv(file); d$x <- ((seq_len(nrow(d)) - 1) * 7) %% 13; d }
s <- other("tests/data/network_survival.csv"); s1 <- s[s$trial == "S1", ]
s1$arm <- factor(s1$arm, levels = sort(unique(s1$arm)))
f <- coxph(Surv(months, died) ~ arm * I(x - mean(x)), data = s1, ties = "efron")
k <- grep("arm", names(coef(f)))
cat("survival S1 coef", coef(f)[k], "\nsurvival S1 vcov", vcov(f)[k, k], "\n")
p <- other("tests/data/network_counts.csv"); c1 <- p[p$trial == "C1", ]
c1$arm <- factor(c1$arm, levels = sort(unique(c1$arm)))
f <- glm(attacks ~ arm * I(x - mean(x)), family = poisson, offset = log(years), data = c1)
k <- grep("arm", names(coef(f)))
cat("poisson C1 coef", coef(f)[k], "\npoisson C1 vcov", vcov(f)[k, k], "\n")

# Negative binomial and ordinal: the rows of tests/test_network_two_stage_families.py
# (_nb_rows(), _ordinal_rows()) with x = ((row - 1) * 7) %% 13, written to nb.csv / ord.csv
if (file.exists("nb.csv") && file.exists("ord.csv")) {
  suppressMessages(library(MASS))
  nb <- read.csv("nb.csv")
  for (s in unique(nb$trial)) {
    d <- nb[nb$trial == s, ]; d$arm <- factor(d$arm, levels = sort(unique(d$arm)))
    f <- glm.nb(count ~ arm * I(x - mean(x)), data = d); k <- grep("arm", names(coef(f)))
    cat("nb", s, coef(f)[k], "|", diag(vcov(f))[k], "\n")
  }
  od <- read.csv("ord.csv")
  for (s in unique(od$trial)) {
    d <- od[od$trial == s, ]; d$arm <- factor(d$arm, levels = sort(unique(d$arm)))
    f <- polr(factor(level) ~ arm * I(x - mean(x)), data = d, Hess = TRUE)
    k <- grep("arm", names(coef(f)))
    cat("polr", s, coef(f)[k], "|", diag(vcov(f))[k], "\n")
  }
}
