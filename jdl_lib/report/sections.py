"""Each report section as one HTML block, so the notebook makes one call and one display per section.

Text comes from ``text.py`` and tables from ``tables.py``; everything is escaped here because intervention
wording comes from the parameter file. The main report (sections 1 to 7) is laid out to fit five A4 pages,
as the Justice Data Lab's reports do; the full balance table, the full love plot and the run details follow
in annexes, which start on a new page. A new section is one more function here and one more notebook cell.
"""

from __future__ import annotations

from html import escape
from typing import Any

from jdl_lib.privacy import suppression_note
from jdl_lib.report import tables, text


def _list(items: list[str], css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f"<ul{cls}>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def _p(sentence: str, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f"<p{cls}>{escape(sentence)}</p>"


def title(results: dict[str, Any], report_date: str = "") -> str:
    """Report title, organisation and the date the report was produced (not part of results.json, so that
    results.json is identical, byte for byte, for the same inputs and seed)."""
    req = results["request"]
    return (
        f"<header class='title'><p class='kicker'>Justice Data Lab analysis</p>"
        f"<h1>Reoffending behaviour after {escape(req['intervention']['name'])}</h1>"
        f"<p class='org'>{escape(req['organisation'])} &middot; request {escape(req['request_id'])} &middot; "
        f"{escape(report_date)}</p></header>"
    )


def summary(results: dict[str, Any]) -> str:
    """Section 1: headline, significance and interval in plain words, caveats."""
    kind = text.verdict(results)
    caveats = text.caveats(results)
    significance = text.significance_sentence(results)
    return (
        f"<section class='summary verdict-{kind}'><h2>1. Summary</h2>"
        + _p(text.headline(results), "headline")
        + (_p(significance) if significance else "")
        + ("<div class='caveats'><h3>Please note</h3>" + _list(caveats) + "</div>" if caveats else "")
        + "</section>"
    )


def can_cannot(results: dict[str, Any]) -> str:
    """Section 2: what you can say, what you cannot say, the "for 100 typical people" estimates, and the
    measures among reoffenders (apart, because they are not effects of the service)."""
    hundred = text.hundred_people(results)
    among = text.reoffenders_only(results)
    return (
        "<section class='say'><h2>2. What you can and cannot say</h2><div class='two-col'>"
        "<div class='can'><h3>What you can say</h3>" + _list(text.can_say(results)) + "</div>"
        "<div class='cannot'><h3>What you cannot say</h3>"
        + _list(text.cannot_say(results))
        + "</div></div>"
        + (
            "<h3>For 100 typical people who receive support, compared with 100 similar people who do not</h3>"
            + _list(hundred)
            if hundred
            else ""
        )
        + (
            "<h3>Among the people who reoffended (not effects of the service)</h3>" + _list(among)
            if among
            else ""
        )
        + "</section>"
    )


def _analysed_sentence(results: dict[str, Any]) -> str:
    a = results["attrition"]
    share = text.pct(a["analysed"] / a["submitted"]) if a["submitted"] else "-"
    said = (
        f"The {a['analysed']:,} people analysed were from a group of {a['submitted']:,} records submitted "
        f"({share}). "
    )
    missing, repeated = text.not_analysed(results), a.get("repeated", 0)
    if missing is None:
        said += "Some records repeated a person already submitted; the other people could not be analysed"
    else:
        if repeated:
            said += f"{text.plural(repeated, 'record')} repeated a person already submitted, and "
        said += f"{text.plural(missing, 'person', 'people')} could not be analysed"
    return said + (
        ", for the reasons below; the service may have a different effect on them. They were compared with "
        f"{a['control_records']:,} records of similar people from the national data."
    )


def intervention(results: dict[str, Any]) -> str:
    """Section 3: the intervention as described by the organisation, and who was analysed."""
    iv = results["request"]["intervention"]
    facts = [
        ("What it is", iv["description"]),
        ("Who it serves", iv["who"]),
        ("Where", iv["where"]),
        ("When", iv["when"]),
    ]
    rows = "".join(f"<tr><th>{k}</th><td>{escape(v)}</td></tr>" for k, v in facts if v)
    return (
        "<section class='intervention'><h2>3. The intervention and who was analysed</h2>"
        f"<table class='facts'>{rows}</table>"
        + _p(_analysed_sentence(results))
        + tables.to_html(tables.attrition_table(results), "Attrition, stage by stage")
        + _suppression_note(results, [r for s in results["attrition"]["stages"] for r in s["reasons"]])
        + "</section>"
    )


def _suppression_note(results: dict[str, Any], entries: list[dict[str, Any]]) -> str:
    """The note explaining "<5" and "[c]", under a table that uses either."""
    if not any(e.get("suppression") for e in entries):
        return ""
    return _p(suppression_note(results["settings"]["disclosure"]["cell_threshold"]), "note")


def profile(results: dict[str, Any]) -> str:
    """Section 4: profile of the treated group beside the matched controls, small cells suppressed.

    Printed as two halves side by side (whole characteristics kept together), in one table that can
    break across pages, so a long profile takes half the space.
    """
    columns = tables.grouped_html(tables.profile_table(results), "Characteristic")
    notes = [n for n in results["disclosure"]["notes"] if n != suppression_note(_threshold(results))]
    return (
        "<section class='profile'><h2>4. Who received the service, beside the matched controls</h2>"
        "<p class='caption'>Profile of the treated group (n and %) and the matched controls (%, weighted)</p>"
        + columns
        + _suppression_note(results, [{"suppression": r["suppression"]} for r in results["profile"]])
        + "".join(_p(n, "note") for n in notes)
        + "</section>"
    )


def _threshold(results: dict[str, Any]) -> int:
    return results["settings"]["disclosure"]["cell_threshold"]


def balance(results: dict[str, Any]) -> str:
    """Section 5 (text part): balance verdict in words, and how to read the charts that follow."""
    b = results["balance"]
    out = [c.replace("_", " ") for c in text.unbalanced(results)]
    verdict = f"Balance verdict: {b['verdict']}. " + (
        f"All characteristics are within the {b['threshold']} SMD threshold after matching."
        if not out
        else f"{text.plural(len(out), 'characteristic')} {'stays' if len(out) == 1 else 'stay'} above the "
        f"{b['threshold']} threshold: {', '.join(out)}."
    )
    ps, ess = b.get("propensity_score"), b.get("effective_sample_size")
    extra = ""
    if ps:
        extra += (
            f" On the propensity score itself the groups differed by an SMD of {abs(ps['smd_before']):.2f} "
            f"before matching and {abs(ps['smd_after']):.2f} after."
        )
    if ess:
        extra += (
            f" The {results['attrition']['control_records']:,} matched control records count as about "
            f"{text.whole(ess['control_after'])} people once weighted (effective sample size)."
        )
    return (
        "<section class='balance'><h2>5. How good the match is</h2>"
        + _p(verdict, f"balance-{b['verdict']}")
        + (_p(extra.strip()) if extra else "")
        + _p(
            "A standardised mean difference (SMD) measures how far apart the two groups are on a "
            "characteristic, in standard deviations; below 0.1 is usually taken as well balanced. The chart "
            "shows the characteristics that differed most before matching and any still above the "
            "threshold; every characteristic is in Annex A. The propensity score is each person's estimated "
            "chance of receiving the service given their characteristics; Annex A also shows that the "
            "matched controls cover the same range of it as the treated group."
        )
        + "</section>"
    )


def outcomes(results: dict[str, Any]) -> str:
    """Section 6 (table part): all measures with CIs, p-values and the multiplicity policy."""
    return (
        "<section class='outcomes'><h2>6. Results for all measures</h2>"
        + tables.to_html(tables.outcomes_table(results), "Treated compared with matched controls")
        + _p(
            "Differences are treated minus control: percentage points for rates, offences per person, days. "
            "Time and custody measures cover reoffenders only. " + text.multiplicity_policy(results),
            "note",
        )
        + "</section>"
    )


def checks(results: dict[str, Any]) -> str:
    """Section 6 (checks part): robustness, sensitivity and power, and whether linkage could change it."""
    linkage = text.linkage_error_sentence(results)
    return tables.to_html(tables.checks_table(results), "Robustness, sensitivity and group size") + (
        _p(linkage) if linkage else ""
    )


def method(results: dict[str, Any]) -> str:
    """Section 7: the method in brief (the run details are in Annex B)."""
    m, s = results["settings"]["matching"], results["settings"]
    exact = ", ".join(c.replace("_", " ") for c in m["exact"])
    return (
        "<section class='method'><h2>7. Method</h2>"
        + _p(
            "Each person's index date is their release from custody (custody) or the start of their "
            "community sentence (community). A proven reoffence is an offence committed within one year of "
            "the index date and proven by a conviction or caution within that year or a further six months. "
            f"Controls are people in the national data who did not receive the service, matched on a "
            f"propensity score ({m['propensity_model']}, {len(m['covariates'])} characteristics) by nearest "
            f"neighbour, up to {m['ratio']} per person, {'with' if m['replace'] else 'without'} replacement"
            + (f", and exactly on {exact}" if exact else "")
            + "; the controls are weighted so that each treated person counts once. Differences are "
            f"estimated with {s['comparison'].replace('_', ' ')} standard errors."
        )
        + _p(
            "The one-year proven reoffending rate is the pre-specified primary measure; the secondary "
            "measures' p-values are Holm-adjusted (see the note under the results table). "
            + text.small_number_rules(results)
        )
        + _p(
            f"Every group analysed holds at least {s['disclosure']['min_group']} people, and all figures are "
            "for groups, never individuals; small counts are suppressed as the notes under the tables say."
        )
        + "</section>"
    )


def annex_balance(results: dict[str, Any]) -> str:
    """Annex A heading and the full balance table (the full love plot follows it)."""
    return (
        "<section class='annex annex-start'><h2>Annex A. Balance of every characteristic</h2>"
        + _p(
            "SMD: standardised mean difference (" + results["balance"]["sd_convention"] + "). VR: variance "
            "ratio, treated over controls (continuous characteristics). KS: the largest gap between the two "
            "groups' cumulative distributions (Kolmogorov-Smirnov); eCDF mean: the average gap. After "
            "matching, controls are weighted. " + tables.effective_sizes(results),
            "note",
        )
        + tables.to_html(tables.balance_table(results), "Balance of each characteristic")
        + "</section>"
    )


def annex(results: dict[str, Any]) -> str:
    """Annex B: the run details (data, matching specification, software) that reproduce the analysis."""
    return (
        "<section class='annex'><h2>Annex B. Method and data details</h2>"
        + tables.to_html(tables.annex_table(results), "Method and data")
        + "</section>"
    )
