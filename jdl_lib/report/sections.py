"""Each report section as one HTML block, so the notebook makes one call and one display per section.

Text comes from ``text.py`` and tables from ``tables.py``; everything is escaped here because intervention
wording comes from the parameter file.
"""

from __future__ import annotations

from html import escape
from typing import Any

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
    return (
        f"<section class='summary verdict-{kind}'><h2>1. Summary</h2>"
        + _p(text.headline(results), "headline")
        + _p(text.significance_sentence(results))
        + ("<div class='caveats'><h3>Please note</h3>" + _list(caveats) + "</div>" if caveats else "")
        + "</section>"
    )


def can_cannot(results: dict[str, Any]) -> str:
    """Section 2: what you can say, what you cannot say, and the "for 100 typical people" estimates."""
    return (
        "<section class='say'><h2>2. What you can and cannot say</h2><div class='two-col'>"
        "<div class='can'><h3>What you can say</h3>" + _list(text.can_say(results)) + "</div>"
        "<div class='cannot'><h3>What you cannot say</h3>" + _list(text.cannot_say(results)) + "</div></div>"
        "<h3>For 100 typical people who receive support, compared with 100 similar people who do not</h3>"
        + _list(text.hundred_people(results))
        + "</section>"
    )


def intervention(results: dict[str, Any]) -> str:
    """Section 3 (text part): the intervention as described by the organisation, and who was analysed."""
    iv, a = results["request"]["intervention"], results["attrition"]
    facts = [
        ("What it is", iv["description"]),
        ("Who it serves", iv["who"]),
        ("Where", iv["where"]),
        ("When", iv["when"]),
    ]
    rows = "".join(f"<tr><th>{k}</th><td>{escape(v)}</td></tr>" for k, v in facts if v)
    lost = a["submitted"] - a["analysed"]
    return (
        "<section class='intervention'><h2>3. The intervention and who was analysed</h2>"
        f"<table class='facts'>{rows}</table>"
        + _p(
            f"The {a['analysed']:,} people analysed were from a group of {a['submitted']:,} records "
            f"submitted ({text.pct(a['analysed'] / a['submitted'])}). {lost:,} could not be analysed, "
            "for the reasons below; the service may have a different effect on them. They were compared with "
            f"{a['control_records']:,} records of similar people from the national data."
        )
        + tables.to_html(tables.attrition_table(results), "Attrition, stage by stage")
        + "</section>"
    )


def profile(results: dict[str, Any]) -> str:
    """Section 4: profile of the treated group beside the matched controls, small cells suppressed."""
    notes = results["disclosure"]["notes"]
    return (
        "<section class='profile'><h2>4. Who received the service, beside the matched controls</h2>"
        + tables.to_html(tables.profile_table(results), "Profile (percentages of each group)")
        + "".join(_p(n, "note") for n in notes)
        + "</section>"
    )


def balance(results: dict[str, Any]) -> str:
    """Section 5 (text part): balance verdict and table."""
    b = results["balance"]
    out = [c.replace("_", " ") for c in text.unbalanced(results)]
    verdict = f"Balance verdict: {b['verdict']}. " + (
        f"All characteristics are within the {b['threshold']} SMD threshold after matching."
        if not out
        else f"{len(out)} characteristic(s) stay above the {b['threshold']} threshold: {', '.join(out)}."
    )
    return (
        "<section class='balance'><h2>5. How good the match is</h2>"
        + _p(verdict, f"balance-{b['verdict']}")
        + _p(
            "A standardised mean difference (SMD) measures how far apart the two groups are on a "
            "characteristic, in standard deviations; below 0.1 is usually taken as well balanced. The "
            "propensity score is each person's estimated chance of receiving the service given their "
            "characteristics; "
            "the matched controls should cover the same range as the treated group."
        )
        + "</section>"
    )


def balance_table(results: dict[str, Any]) -> str:
    """Section 5 (table part): SMD before/after and variance ratio per covariate."""
    return tables.to_html(tables.balance_table(results), "Balance of each characteristic")


def outcomes(results: dict[str, Any]) -> str:
    """Section 6 (table part): all four measures with CIs and p-values."""
    return (
        "<section class='outcomes'><h2>6. Results for all measures</h2>"
        + tables.to_html(tables.outcomes_table(results), "Treated compared with matched controls")
        + _p(
            "Rates are per 100 people (percentages); differences are treated minus control, in percentage "
            "points for rates, offences per person for frequency and days for time to first reoffence. "
            "Time and custody measures cover reoffenders only."
        )
        + "</section>"
    )


def checks(results: dict[str, Any]) -> str:
    """Section 6 (checks part): robustness, sensitivity and power, and whether linkage could change it."""
    linkage = text.linkage_error_sentence(results)
    return tables.to_html(tables.checks_table(results), "Robustness, sensitivity and group size") + (
        _p(linkage) if linkage else ""
    )


def annex(results: dict[str, Any]) -> str:
    """Section 7: method annex."""
    return (
        "<section class='annex'><h2>7. Method annex</h2>"
        + _p(
            "Each person's index date is their release from custody (custody) or the start of their "
            "community sentence (community). A proven reoffence is an offence committed within one year of "
            "the index date and proven by a conviction or caution within that year or a further six months. "
            "Controls are people in the national data who did not receive the service, matched on a "
            "propensity score and weighted; all figures are for groups, never individuals."
        )
        + tables.to_html(tables.annex_table(results), "Method and data")
        + "</section>"
    )
