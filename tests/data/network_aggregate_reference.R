# Reference numbers of tests/test_network_aggregate.py (metafor 3.8-1).
# Rscript tests/data/network_aggregate_reference.R   (from the repository root)
# Gaussian network (tests/data/network_gaussian.csv): trials G4 (three arms) and G7 given
# as arm-level AD (mean, sd, n; contrasts by escalc(measure = "MD"): var sd^2/n per arm,
# the shared arm's sd^2/n as covariance), the other trials as rows (lm per trial).
suppressMessages(library(metafor))
options(digits = 10)
d <- read.csv("tests/data/network_gaussian.csv")
lev <- c("A", "B", "C", "D")
ad_trials <- c("G4", "G7")
rows <- list(); Vs <- list()
for (s in unique(d$trial)) {
  x <- d[d$trial == s, ]; arms <- lev[lev %in% x$arm]
  if (s %in% ad_trials) {
    m <- tapply(x$score, x$arm, mean)[arms]; sd <- tapply(x$score, x$arm, sd)[arms]
    n <- tapply(x$score, x$arm, length)[arms]
    es <- escalc(measure = "MD", m1i = m[-1], sd1i = sd[-1], n1i = n[-1],
                 m2i = rep(m[1], length(arms) - 1), sd2i = rep(sd[1], length(arms) - 1),
                 n2i = rep(n[1], length(arms) - 1))
    V <- matrix(sd[1]^2 / n[1], length(arms) - 1, length(arms) - 1); diag(V) <- es$vi
    yi <- as.numeric(es$yi)
  } else {
    fit <- lm(score ~ factor(arm, levels = arms), data = x)
    yi <- unname(coef(fit)[-1]); V <- unname(vcov(fit)[-1, -1, drop = FALSE])
  }
  rows[[length(rows) + 1]] <- data.frame(study = s, t1 = arms[-1], t2 = arms[1], yi = yi)
  Vs[[length(Vs) + 1]] <- V
}
dat <- do.call(rbind, rows); V <- bldiag(Vs)
for (t in lev[-1]) dat[[t]] <- (dat$t1 == t) - (dat$t2 == t)
dat$comp <- paste(dat$t1, dat$t2, sep = " vs ")
for (m in c("REML", "ML")) {
  res <- rma.mv(yi, V, mods = ~ B + C + D - 1, random = ~ comp | study, rho = 1/2,
                data = dat, method = m)
  cat(m, "estimate", coef(res), "\n", m, "se", res$se, "\n", m, "tau2", res$tau2, "\n")
}
fe <- rma.mv(yi, V, mods = ~ B + C + D - 1, data = dat)
cat("FE estimate", coef(fe), "\nFE se", fe$se, "\n")

# Hasselblad 1998 (metadat), --sparse cc: every trial's contrasts from its arm counts as
# tests/data/network_reference.R builds them, except Mothersill et al. 1988, whose
# contrasts are given (as an aggregate-contrasts file would) against self_help, not
# against its reference arm in network order (grp_counseling): yi = l_j - l_self,
# vi = v_j + v_self, covariance v_self.
h <- dat.hasselblad1998
h$label <- paste(h$authors, h$year)
lev <- c("no_contact", "grp_counseling", "ind_counseling", "self_help")
rows <- list(); Vs <- list()
for (s in unique(h$label)) {
  x <- h[h$label == s, ]; x <- x[order(match(x$trt, lev)), ]
  if (s == "Mothersill et al. 1988") x <- x[order(x$trt != "self_help"), ]
  zero <- any(x$xi == 0 | x$xi == x$ni)
  a <- x$xi + 0.5 * zero; n <- x$ni + 1 * zero
  l <- log(a / (n - a)); v <- 1 / a + 1 / (n - a)
  rows[[length(rows) + 1]] <- data.frame(study = s, t1 = x$trt[-1], t2 = x$trt[1],
                                         yi = l[-1] - l[1])
  V <- matrix(v[1], nrow(x) - 1, nrow(x) - 1); diag(V) <- v[-1] + v[1]
  Vs[[length(Vs) + 1]] <- V
}
dat <- do.call(rbind, rows); V <- bldiag(Vs)
for (t in lev[-1]) dat[[t]] <- (dat$t1 == t) - (dat$t2 == t)
dat$comp <- paste(dat$t1, dat$t2, sep = " vs ")
print(dat[dat$study == "Mothersill et al. 1988", c("t1", "t2", "yi")])
for (m in c("REML", "ML")) {
  res <- rma.mv(yi, V, mods = ~ grp_counseling + ind_counseling + self_help - 1,
                random = ~ comp | study, rho = 1/2, data = dat, method = m)
  cat("hasselblad", m, "estimate", coef(res), "\n", m, "se", res$se, "\n", m, "tau2",
      res$tau2, "\n")
}
