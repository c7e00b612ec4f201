# Rubin's-rules reference figures of tests/test_two_stage_imputation.py (run from the repository root)
suppressMessages({library(mice); library(survival)})
long <- read.csv("tests/data/mi_completed.csv", check.names = FALSE)
options(digits = 15)
for (s in c("T1", "T2", "T3")) {
  d <- long[long$study == s, ]
  imp <- as.mids(d)
  f1 <- with(imp, lm(y ~ treat + z + x + treat:x))
  f2 <- with(imp, {g0 <- glm(ybin ~ treat + x + treat:x, family = binomial, control = glm.control(epsilon = 1e-14, maxit = 100)); glm(ybin ~ treat + x + treat:x, family = binomial, start = coef(g0), control = glm.control(epsilon = 1e-14, maxit = 100))})
  f3 <- with(imp, coxph(Surv(time, status) ~ treat + x + treat:x, ties = "efron", control = coxph.control(eps = 1e-12, toler.chol = 1e-15, iter.max = 100)))
  f4 <- with(imp, lm(y ~ treat + z + x))
  for (nm in c("lm_int", "glm_int", "cox_int", "lm_treat")) {
    f <- switch(nm, lm_int = f1, glm_int = f2, cox_int = f3, lm_treat = f4)
    term <- if (nm == "lm_treat") "treat" else "treat:x"
    p <- pool(f)$pooled; p <- p[p$term == term, ]
    cat(sprintf('("%s", "%s"): (%.12f, %.12f, %.10f, %.12f, %.12f, %g),\n', s, nm,
                p$estimate, sqrt(p$t), p$df, p$fmi, p$lambda, p$dfcom))
  }
}
