# Reference numbers of tests/test_network_classes.py (R 4.x, metafor 3.8-1).
# Rscript tests/data/network_classes_reference.R   (from the repository root)
# Data: tests/data/network_interactions.csv (see network_interactions_reference.R): 6
# trials, S1 three arms A/B/C; covariates age and sex. Per trial, the family's regression
# y ~ trt * I(age - mean(age)) + I(sex - mean(sex)) (base arm: the trial's first treatment
# in network order); the trt x age coefficients pooled with interactions shared by a class
# of treatments: the row of contrast t vs b is e_class(t) - e_class(b), the reference's
# class dropped; random = ~ comp | study, rho = 1/2 as the per-treatment pooling.
suppressMessages(library(metafor))
options(digits = 12)
d0 <- read.csv("tests/data/network_interactions.csv")
d <- d0
lev <- c("A", "B", "C")

interactions <- function(fam, response) {
  inter <- list(); Vi <- list()
  for (s in unique(d$study)) {
    x <- d[d$study == s, ]; arms <- lev[lev %in% x$treatment]
    x$trt <- factor(x$treatment, levels = arms)
    f <- as.formula(paste(response, "~ trt * I(age - mean(age)) + I(sex - mean(sex))"))
    fit <- if (fam == "gaussian") lm(f, data = x) else glm(f, family = binomial, data = x)
    ii <- paste0("trt", arms[-1], ":I(age - mean(age))")
    inter[[s]] <- data.frame(study = s, t1 = arms[-1], t2 = arms[1], yi = unname(coef(fit)[ii]))
    Vi[[s]] <- unname(vcov(fit)[ii, ii, drop = FALSE])
  }
  list(dat = do.call(rbind, inter), V = bldiag(Vi))
}

# classes: named vector treatment -> class; the reference's class is classes["A"]
pool <- function(cn, classes, label) {
  dat <- cn$dat; V <- cn$V
  others <- setdiff(unique(classes), classes[["A"]])
  cols <- paste0("k_", others)
  for (i in seq_along(others)) {
    dat[[cols[i]]] <- (classes[dat$t1] == others[i]) - (classes[dat$t2] == others[i])
  }
  dat$comp <- paste(dat$t1, dat$t2, sep = " vs ")
  f <- as.formula(paste("~", paste(cols, collapse = " + "), "- 1"))
  for (m in c("REML", "ML")) {
    res <- rma.mv(yi, V, mods = f, random = ~ comp | study, rho = 1/2, data = dat, method = m)
    cat(label, m, "estimate", coef(res), "se", res$se, "tau2", res$tau2, "\n")
  }
  fe <- rma.mv(yi, V, mods = f, data = dat)
  cat(label, "FE estimate", coef(fe), "se", fe$se, "\n")
}

act <- c(A = "A", B = "act", C = "act")       # B and C share one interaction
ctl <- c(A = "ctl", B = "ctl", C = "C")       # B in the reference's class: C alone
b <- interactions("binomial", "y")
pool(b, act, "binomial B=C=act")
pool(b, ctl, "binomial A=B=ctl")
g <- interactions("gaussian", "score")
pool(g, act, "gaussian B=C=act")
pool(g, ctl, "gaussian A=B=ctl")

# four treatments: S6's C arm relabelled D; two non-reference classes (B, C) and (D)
d <- d0; d$treatment[d$study == "S6" & d$treatment == "C"] <- "D"
lev <- c("A", "B", "C", "D")
two <- c(A = "A", B = "x", C = "x", D = "y")
pool(interactions("binomial", "y"), two, "binomial4 B=C=x D=y")
pool(interactions("gaussian", "score"), two, "gaussian4 B=C=x D=y")
