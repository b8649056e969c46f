// Power of a one-year reoffending comparison, in the browser: the same formulas as jdl_lib/power.py
// (two-sided test of a difference in rates, normal approximation with unpooled variances under the
// alternative, Fleiss, Levin & Paik 2003 ch. 4; the comparison group is taken as much larger than the
// cohort, so only the cohort adds variance). tests/test_publish_power_js.py runs this file in node and
// checks it against the Python functions.
"use strict";

// Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9).
function normInv(p) {
  if (!(p > 0 && p < 1)) return NaN;
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2,
    -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1,
    -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734,
    4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  let q, r;
  if (p < low) {
    q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - low) {
    q = Math.sqrt(-2 * Math.log(1 - p));
    return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  q = p - 0.5;
  r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

function checkInputs(baseline, alpha, power) {
  return baseline > 0 && baseline < 1 && alpha > 0 && alpha < 1 && power > 0 && power < 1;
}

// Smallest fall in the rate (0-1 scale) a cohort of `people` would detect; NaN if none would be.
function minimumDetectableDifference(people, baseline, alpha, power) {
  if (!checkInputs(baseline, alpha, power) || !(people >= 1)) return NaN;
  const za = normInv(1 - alpha / 2), zb = normInv(power);
  const gap = (d) => {
    const p1 = baseline - d;
    const se0 = Math.sqrt(baseline * (1 - baseline) / people);
    const se1 = Math.sqrt(p1 * (1 - p1) / people);
    return d - (za * se0 + zb * se1);
  };
  let lo = 1e-12, hi = baseline - 1e-12;
  if (gap(hi) < 0) return NaN;
  for (let i = 0; i < 200 && hi - lo > 1e-13; i++) {
    const mid = (lo + hi) / 2;
    if (gap(mid) < 0) lo = mid; else hi = mid;
  }
  return (lo + hi) / 2;
}

// People needed in the cohort to detect a difference `diff` (treated minus control, 0-1 scale).
function peopleNeeded(diff, baseline, alpha, power) {
  const p1 = baseline + diff;
  if (!checkInputs(baseline, alpha, power) || diff === 0 || !(p1 > 0 && p1 < 1)) return NaN;
  const za = normInv(1 - alpha / 2), zb = normInv(power);
  const q0 = baseline * (1 - baseline);
  const n = (za * Math.sqrt(q0) + zb * Math.sqrt(p1 * (1 - p1))) ** 2 / diff ** 2;
  return Math.ceil(n);
}

function powerPage() {
  const form = document.getElementById("power-form");
  if (!form) return;
  const value = (id) => parseFloat(document.getElementById(id).value);
  const update = () => {
    const people = Math.round(value("people"));
    const baseline = value("baseline") / 100;
    const alpha = value("alpha"), power = value("power");
    const hoped = value("effect") / 100;
    const mdd = minimumDetectableDifference(people, baseline, alpha, power);
    const needed = peopleNeeded(-hoped, baseline, alpha, power);
    document.getElementById("mdd").textContent = Number.isNaN(mdd)
      ? "no fall, however large: check the numbers entered"
      : (100 * mdd).toFixed(1) + " percentage points (from " + (100 * baseline).toFixed(0) + "% to " +
        (100 * (baseline - mdd)).toFixed(1) + "%)";
    document.getElementById("needed").textContent = Number.isNaN(needed)
      ? "not defined for these numbers"
      : needed.toLocaleString("en-GB") + " people";
    document.getElementById("min-group").hidden = !(people < 60);
  };
  form.addEventListener("input", update);
  update();
}

if (typeof module !== "undefined") {
  module.exports = { normInv, minimumDetectableDifference, peopleNeeded };
} else {
  document.addEventListener("DOMContentLoaded", powerPage);
}
