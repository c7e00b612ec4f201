# Reference numbers of tests/test_network_two_stage.py (metafor 3.8-1, metadat).
# Rscript tests/data/network_reference.R   (from the repository root)
suppressMessages(library(metafor))
options(digits = 10)
lev_order <- function(trts, ref) c(ref, sort(setdiff(trts, ref)))

# contrasts of one trial vs its reference arm (network reference if present, else the
# first of its treatments in network order), from arm log odds (binomial)
binomial_contrasts <- function(d, lev, cc) {
  rows <- list(); Vs <- list()
  for (s in unique(d$study)) {
    x <- d[d$study == s, ]; x <- x[order(match(x$trt, lev)), ]
    zero <- any(x$xi == 0 | x$xi == x$ni)
    if (zero && !cc) next
    a <- x$xi + 0.5 * zero; n <- x$ni + 1 * zero
    l <- log(a / (n - a)); v <- 1 / a + 1 / (n - a)
    rows[[length(rows) + 1]] <- data.frame(study = s, t1 = x$trt[-1], t2 = x$trt[1],
      yi = l[-1] - l[1], design = paste(x$trt, collapse = ":"))
    V <- matrix(v[1], nrow(x) - 1, nrow(x) - 1); diag(V) <- v[-1] + v[1]
    Vs[[length(Vs) + 1]] <- V
  }
  list(dat = do.call(rbind, rows), V = bldiag(Vs))
}

# contrasts from lm(score ~ arm) per trial (gaussian)
gaussian_contrasts <- function(d, lev) {
  rows <- list(); Vs <- list()
  for (s in unique(d$trial)) {
    x <- d[d$trial == s, ]; arms <- lev[lev %in% x$arm]
    fit <- lm(score ~ factor(arm, levels = arms), data = x)
    rows[[length(rows) + 1]] <- data.frame(study = s, t1 = arms[-1], t2 = arms[1],
      yi = unname(coef(fit)[-1]), design = paste(arms, collapse = ":"))
    Vs[[length(Vs) + 1]] <- unname(vcov(fit)[-1, -1, drop = FALSE])
  }
  list(dat = do.call(rbind, rows), V = bldiag(Vs))
}

analyse <- function(cn, lev, label) {
  dat <- cn$dat; V <- cn$V
  for (t in lev[-1]) dat[[t]] <- (dat$t1 == t) - (dat$t2 == t)
  dat$comp <- paste(dat$t1, dat$t2, sep = " vs ")
  f <- as.formula(paste("~", paste(lev[-1], collapse = " + "), "- 1"))
  cat("=====", label, "\n")
  for (m in c("REML", "ML")) {
    res <- rma.mv(yi, V, mods = f, random = ~ comp | study, rho = 1/2, data = dat, method = m)
    cat(m, "estimate", coef(res), "\n", m, "se", res$se, "\n", m, "tau2", res$tau2, "\n")
  }
  fe <- rma.mv(yi, V, mods = f, data = dat)
  cat("FE estimate", coef(fe), "\nFE se", fe$se, "\n")
  dat$dc <- paste(dat$design, dat$comp)
  inc <- rma.mv(yi, V, mods = ~ factor(dc) - 1, data = dat)
  qb <- fe$QE - inc$QE; dfb <- (fe$k - fe$p) - (inc$k - inc$p)
  cat("Q total", fe$QE, "within", inc$QE, "between", qb, "df", dfb,
      "p", pchisq(qb, dfb, lower.tail = FALSE), "\n")
  list(dat = dat, V = V, f = f)
}

h <- dat.hasselblad1998
lev <- lev_order(unique(h$trt), "no_contact")
ref <- analyse(binomial_contrasts(h, lev, cc = TRUE), lev, "hasselblad cc")
invisible(analyse(binomial_contrasts(h, lev, cc = FALSE), lev, "hasselblad none (2 trials excluded)"))

# league, P-scores (Ruecker & Schwarzer 2015, large values desirable) and the direct
# estimates of node-splitting (rma with tau2 fixed at the network's) for hasselblad cc
V <- ref$V
res <- rma.mv(yi, V, mods = ref$f, random = ~ comp | study, rho = 1/2, data = ref$dat)
d <- c(0, coef(res)); S <- matrix(0, 4, 4); S[-1, -1] <- vcov(res)
P <- sapply(1:4, function(i) mean(sapply(setdiff(1:4, i), function(j)
  pnorm((d[i] - d[j]) / sqrt(S[i, i] + S[j, j] - 2 * S[i, j])))))
cat("P-scores (undesirable)", P, "\n")
cat("league grp vs self", d[2] - d[4], sqrt(S[2, 2] + S[4, 4] - 2 * S[2, 4]), "\n")
# direct grp_counseling vs ind_counseling: each trial holding both, its own contrast
pair <- function(a, b) {
  out <- NULL
  for (s in unique(ref$dat$study)) {
    i <- which(ref$dat$study == s); x <- ref$dat[i, ]; Vk <- as.matrix(ref$V[i, i, drop = FALSE])
    trts <- c(x$t2[1], x$t1)
    if (!all(c(a, b) %in% trts)) next
    w <- (x$t1 == b) - (x$t1 == a)
    out <- rbind(out, data.frame(yi = sum(w * x$yi), vi = drop(t(w) %*% Vk %*% w)))
  }
  out
}
dd <- pair("grp_counseling", "ind_counseling")
dir <- rma(yi, vi, data = dd, tau2 = res$tau2)
cat("direct ind vs grp", coef(dir), dir$se, "k", nrow(dd), "\n")

g <- read.csv("tests/data/network_gaussian.csv")
invisible(analyse(gaussian_contrasts(g, lev_order(unique(g$arm), "A")),
                  lev_order(unique(g$arm), "A"), "gaussian"))

# HKSJ: with two-arm trials only, the network model is a meta-regression, so
# rma(yi, vi, mods = ~ ..., test = "knha") is the reference (three-arm trials 2 and 9 dropped)
two <- binomial_contrasts(h[!h$study %in% c(2, 9), ], lev, cc = TRUE)$dat
for (t in lev[-1]) two[[t]] <- (two$t1 == t) - (two$t2 == t)
two$vi <- NA
for (i in seq_len(nrow(two))) {
  x <- h[h$study == two$study[i], ]; zero <- any(x$xi == 0)
  a <- x$xi + 0.5 * zero; n <- x$ni + zero; two$vi[i] <- sum(1 / a + 1 / (n - a))
}
two$comp <- paste(two$t1, two$t2, sep = " vs ")
f <- ~ grp_counseling + ind_counseling + self_help - 1
mv <- rma.mv(yi, vi, mods = f, random = ~ comp | study, rho = 1/2, data = two)
# (rma.uni's own REML stops at tau2 = 0.4726 here although its REML log-likelihood is
# higher at rma.mv's 0.4932; the Knapp-Hartung step is therefore taken at rma.mv's tau2)
kh <- rma(yi, vi, mods = f, data = two, tau2 = mv$tau2, test = "knha")
cat("HKSJ estimate", coef(kh), "\nHKSJ se", kh$se, "\nHKSJ ci.lb", kh$ci.lb, "\nHKSJ tau2",
    kh$tau2, "df", kh$k - kh$p, "\n")

# survival: coxph(Surv(months, died) ~ factor(arm), ties = "efron") per trial, then rma.mv
suppressMessages(library(survival))
s <- read.csv("tests/data/network_survival.csv")
slev <- lev_order(unique(s$arm), "P")
rows <- list(); Vs <- list()
for (k in unique(s$trial)) {
  x <- s[s$trial == k, ]; arms <- slev[slev %in% x$arm]
  fit <- coxph(Surv(months, died) ~ factor(arm, levels = arms), data = x, ties = "efron")
  rows[[length(rows) + 1]] <- data.frame(study = k, t1 = arms[-1], t2 = arms[1],
    yi = unname(coef(fit)), design = paste(arms, collapse = ":"))
  Vs[[length(Vs) + 1]] <- unname(vcov(fit))
}
invisible(analyse(list(dat = do.call(rbind, rows), V = bldiag(Vs)), slev, "survival"))

# counts: glm(attacks ~ factor(arm) + offset(log(years)), family = poisson) per trial
cn <- read.csv("tests/data/network_counts.csv")
clev <- lev_order(unique(cn$arm), "P")
rows <- list(); Vs <- list()
for (k in unique(cn$trial)) {
  x <- cn[cn$trial == k, ]; arms <- clev[clev %in% x$arm]
  fit <- glm(attacks ~ factor(arm, levels = arms) + offset(log(years)), family = poisson,
             data = x, control = glm.control(epsilon = 1e-12, maxit = 100))
  rows[[length(rows) + 1]] <- data.frame(study = k, t1 = arms[-1], t2 = arms[1],
    yi = unname(coef(fit)[-1]), design = paste(arms, collapse = ":"))
  Vs[[length(Vs) + 1]] <- unname(vcov(fit)[-1, -1, drop = FALSE])
}
invisible(analyse(list(dat = do.call(rbind, rows), V = bldiag(Vs)), clev, "poisson"))
