"""Linkage against the synthetic generator's answer keys: precision, recall and index events.

Targets (issue 5): precision of links >= 99.5%; recall of the people who are in the national data
>= 97%; index event equal to the answer key's for >= 99% of correctly linked people. One 30,000-person
store per session; cohorts of several sizes and noise levels.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from linkage_fixtures import canonical_upload

from jdl_lib.index_events import find_index_events
from jdl_lib.linkage import LinkageSettings, link_cohort
from jdl_lib.linkage.quality import score_links
from jdl_lib.store import NationalStore
from jdl_lib.synth import NoiseConfig, build_synthetic_store, make_cohort

HEAVY = dataclasses.replace(
    NoiseConfig(),
    nickname=0.16,
    forename_typo=0.06,
    surname_typo=0.06,
    surname_variant=0.04,
    dob_swap=0.04,
    dob_digit=0.04,
    alias=0.06,
    pnc_missing=0.85,
    prison_missing=0.8,
)
SETTINGS = LinkageSettings(u_sample_records=30_000, u_max_pairs=5e5)


@pytest.fixture(scope="module")
def synthetic_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("linkage_truth") / "national.duckdb"
    build_synthetic_store(path, 30_000, seed=5)
    return path


def score(cohort, result) -> dict[str, float]:
    """Precision of links and recall of distinct people who are in the national data."""
    key = cohort.answer_key.set_index("upload_row")
    true = result.links["upload_row"].map(key["person_id"])
    correct = (result.links["person_id"] == true).fillna(False).astype(bool)
    present = key["person_id"].dropna().unique()
    return {
        "precision": correct.mean(),
        "recall": result.links.loc[correct, "person_id"].nunique() / len(present),
        "correct": correct,
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("n", "setting", "noise", "seed"),
    [
        (300, "custody", NoiseConfig(), 1),
        (1000, "custody", NoiseConfig(), 2),
        (600, "community", NoiseConfig(), 3),
        (600, "custody", HEAVY, 4),
    ],
    ids=["300-default", "1000-default", "600-community", "600-heavy-noise"],
)
def test_links_meet_precision_recall_and_index_event_targets(synthetic_store, n, setting, noise, seed):
    cohort = make_cohort(
        synthetic_store, n, setting, date(2005, 1, 1), date(2010, 12, 31), noise=noise, seed=seed
    )
    people = canonical_upload(cohort.upload)
    with NationalStore.open(synthetic_store) as store:
        result = link_cohort(people, store, SETTINGS)
        figures = score(cohort, result)
        assert figures["precision"] >= 0.995, figures
        assert figures["recall"] >= 0.97, figures

        right = result.links[figures["correct"].to_numpy()]
        links = right[["upload_row", "person_id"]].merge(
            people[["upload_row", "setting", "intervention_start", "intervention_end"]], on="upload_row"
        )
        events = find_index_events(links, store).events
    key = cohort.answer_key.set_index("upload_row")["disposal_id"]
    agree = events["disposal_id"].to_numpy() == events["upload_row"].map(key).to_numpy()
    assert agree.sum() >= 0.99 * len(right), (agree.sum(), len(right))


@pytest.mark.slow
def test_fabricated_people_are_not_linked(synthetic_store):
    cohort = make_cohort(
        synthetic_store,
        400,
        "custody",
        date(2005, 1, 1),
        date(2010, 12, 31),
        noise=dataclasses.replace(NoiseConfig(), fabricated=0.25),
        seed=9,
    )
    with NationalStore.open(synthetic_store) as store:
        result = link_cohort(canonical_upload(cohort.upload), store, SETTINGS)
    fabricated = cohort.answer_key.loc[cohort.answer_key["person_id"].isna(), "upload_row"]
    assert len(fabricated) >= 90
    assert not set(fabricated) & set(result.links["upload_row"])
    assert result.counts["unlinked"] + result.counts["low_confidence"] >= 0.9 * len(fabricated)


#: Precision and recall floors per noise profile on the 30,000-person store, about a point under the
#: measured figures (precision 1.000 on each; recall 0.997, 0.993, 0.988, 0.956; docs/benchmarks.md).
PROFILE_FLOORS = {
    "default": (0.995, 0.985),
    "none-id": (0.995, 0.98),
    "messy": (0.995, 0.975),
    "messy-none-id": (0.995, 0.94),
}


@pytest.mark.slow
@pytest.mark.parametrize("profile", list(PROFILE_FLOORS))
def test_each_noise_profile_meets_its_floors_for_every_group(synthetic_store, profile):
    cohort = make_cohort(
        synthetic_store,
        600,
        "custody",
        date(2005, 1, 1),
        date(2010, 12, 31),
        noise=NoiseConfig.profile(profile),
        seed=21,
    )
    with NationalStore.open(synthetic_store) as store:
        result = link_cohort(canonical_upload(cohort.upload), store, SETTINGS)
        groups = store.connection.execute("SELECT person_id, gender, ethnicity FROM people").df()
    quality = score_links(result.links, cohort.answer_key, groups)
    precision, recall = PROFILE_FLOORS[profile]
    assert quality.precision >= precision and quality.recall >= recall, quality
    # errors must not fall on one group: every group of 30 or more within 6 points of the whole
    for column, table in quality.recall_by.items():
        large = table[table["people"] >= 30]
        assert (large["recall"] >= quality.recall - 0.06).all(), (column, table)
    assert sum(v for k, v in result.counts.items() if k != "submitted") == result.counts["submitted"]
