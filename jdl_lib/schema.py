"""The national store contract: every raw table and column the lab reads, in one place.

Any producer of national data (the synthetic generator, or a real MoJ extract loaded with
``jdl import-national``) must deliver these tables. Everything the lab analyses (matching
variables, index events, proven reoffending outcomes) is *derived* from them by the lab itself,
the same way for every source. ``docs/national_schema.md`` is generated from this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Version of this contract, recorded in every store; bump it when a table or column changes.
SCHEMA_VERSION = "1"

#: Genders as recorded on the PNC extract.
GENDERS = ("M", "F")
#: Ethnicity groups (ONS 5+1 grouping, self- or officer-defined).
ETHNICITIES = ("White", "Black", "Asian", "Mixed", "Other", "Unknown")
#: Value of a coded column when the owner does not know it (a category of its own in matching).
UNKNOWN = "Unknown"
#: The ten regions of England and Wales used for regional matching.
REGIONS = (
    "North East",
    "North West",
    "Yorkshire and the Humber",
    "East Midlands",
    "West Midlands",
    "East of England",
    "London",
    "South East",
    "South West",
    "Wales",
)
#: Codes of the ``region`` column: a region, or ``Unknown`` when the owner does not know it.
REGION_CODES = (*REGIONS, UNKNOWN)
#: Disposals (sanctions) that prove an offence: court sentences and cautions. Penalty notices for
#: disorder are not proven offences under the MoJ definition and are not part of the store.
DISPOSAL_TYPES = ("custody", "suspended_sentence", "community_order", "fine", "discharge", "caution")
#: Disposals that start a one-year follow-up for a community (non-custodial, supervised) intervention.
COMMUNITY_DISPOSALS = ("community_order", "suspended_sentence")
#: MoJ offence groups used in proven reoffending statistics.
OFFENCE_GROUPS = (
    "violence_against_the_person",
    "sexual",
    "robbery",
    "theft",
    "criminal_damage_and_arson",
    "drug",
    "possession_of_weapons",
    "public_order",
    "misc_crimes_against_society",
    "fraud",
    "summary_non_motoring",
    "summary_motoring",
)


#: Identifier forms the importer normalises to before any check: a name in upper case with single
#: spaces; a PNC ID as ``YYYY/NNNNNNNL``; a prison number as ``A1234BC``. The same forms as the upload
#: side (:mod:`jdl_lib.intake.validate`, :mod:`jdl_lib.identifiers`), so the two can be compared.
IDENTIFIER_FORMS = ("name", "pnc", "prison_number")


@dataclass(frozen=True)
class Column:
    """One column of a raw table: its DuckDB type, whether it may be null, and allowed codes.

    ``form`` names an identifier form of :data:`IDENTIFIER_FORMS`: the importer rewrites the column
    into it (case, spaces, short PNC years) and refuses values it cannot. Coded columns are matched to
    their codes ignoring case and surrounding spaces.
    """

    name: str
    dtype: str
    description: str
    nullable: bool = False
    codes: tuple[str, ...] | None = None
    unique: bool = False
    personal: bool = False  # identifying data: never echoed in messages, logs or reports
    form: str | None = None


@dataclass(frozen=True)
class ForeignKey:
    """``column`` must match ``ref_table.ref_column`` for every non-null value."""

    column: str
    ref_table: str
    ref_column: str


@dataclass(frozen=True)
class Rule:
    """A row-level date or logic rule, as a DuckDB boolean expression that must be true.

    ``sql`` may refer to the table's own columns and, through ``join``, to one referenced table
    aliased ``r``. Rows where the expression is false (not null) violate the rule.
    """

    name: str
    sql: str
    description: str
    join: ForeignKey | None = None


@dataclass(frozen=True)
class Table:
    """One raw table of the national store."""

    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: str
    foreign_keys: tuple[ForeignKey, ...] = ()
    rules: tuple[Rule, ...] = field(default_factory=tuple)
    #: Every value of ``column`` must also appear in ``ref_table.ref_column`` (a reverse foreign key,
    #: e.g. each disposal proves at least one offence).
    required_in: tuple[ForeignKey, ...] = ()
    #: An owner who holds none of this table may leave its file out (or send it empty); the variables
    #: derived from it are then "not available in this extract" and left out of matching.
    optional: bool = False

    def column(self, name: str) -> Column:
        """Return the column called ``name`` (KeyError if the contract has none)."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        """Column names in contract order."""
        return tuple(c.name for c in self.columns)


PEOPLE = Table(
    name="people",
    description="One row per person on the national offender index (the PNC nominal record).",
    primary_key="person_id",
    columns=(
        Column("person_id", "BIGINT", "Internal person key, stable within one store.", unique=True),
        Column(
            "pnc_id",
            "VARCHAR",
            "PNC ID in the canonical form YYYY/NNNNNNNL (year, 7-digit serial, check letter); short "
            "years (98/1234A) and lower case are rewritten to it on import.",
            unique=True,
            personal=True,
            form="pnc",
        ),
        Column(
            "prison_number",
            "VARCHAR",
            "Prison (NOMIS) number, letter-4 digits-2 letters (A1234BC); null if never in custody.",
            nullable=True,
            unique=True,
            personal=True,
            form="prison_number",
        ),
        Column("forename", "VARCHAR", "Main forename (upper-cased on import).", personal=True, form="name"),
        Column("surname", "VARCHAR", "Main surname (upper-cased on import).", personal=True, form="name"),
        Column("date_of_birth", "DATE", "Main date of birth.", personal=True),
        Column("gender", "VARCHAR", "Recorded gender.", codes=GENDERS),
        Column("ethnicity", "VARCHAR", "Ethnic group.", codes=ETHNICITIES),
        Column(
            "region",
            "VARCHAR",
            "Region of residence at last contact (Unknown if not known).",
            codes=REGION_CODES,
        ),
        Column("uk_national", "BOOLEAN", "True if a UK national; null if not known.", nullable=True),
    ),
    rules=(
        Rule(
            "plausible_date_of_birth",
            "date_of_birth BETWEEN DATE '1900-01-01' AND DATE '2010-12-31'",
            "Dates of birth lie between 1900 and 2010.",
        ),
        Rule(
            "pnc_check_letter",
            "substr('ZABCDEFGHJKLMNPQRTUVWXY', "
            "(TRY_CAST(pnc_id[3:4] || pnc_id[6:12] AS BIGINT) % 23)::INTEGER + 1, 1) = pnc_id[13]",
            "A PNC ID's check letter is the one its year and serial give (pnc_id).",
        ),
    ),
)

ALIASES = Table(
    name="aliases",
    description="Other identities a person has used (names and/or dates of birth), as held on the PNC.",
    primary_key="alias_id",
    columns=(
        Column("alias_id", "BIGINT", "Alias key.", unique=True),
        Column("person_id", "BIGINT", "The person who used this alias."),
        Column("forename", "VARCHAR", "Alias forename (upper-cased on import).", personal=True, form="name"),
        Column("surname", "VARCHAR", "Alias surname (upper-cased on import).", personal=True, form="name"),
        Column("date_of_birth", "DATE", "Alias date of birth.", personal=True),
    ),
    foreign_keys=(ForeignKey("person_id", "people", "person_id"),),
    optional=True,
)

DISPOSALS = Table(
    name="disposals",
    description=(
        "One row per sanction occasion: a court sentence or a caution. Its date is the date on which "
        "every offence it covers was proven."
    ),
    primary_key="disposal_id",
    columns=(
        Column("disposal_id", "BIGINT", "Disposal key.", unique=True),
        Column("person_id", "BIGINT", "The sanctioned person."),
        Column("disposal_date", "DATE", "Sentence or caution date (the proven date of its offences)."),
        Column("disposal_type", "VARCHAR", "Type of sanction.", codes=DISPOSAL_TYPES),
        Column(
            "sentence_length_days",
            "INTEGER",
            "Sentence length in days for custody and court orders; null for fines, discharges, cautions.",
            nullable=True,
        ),
        Column(
            "release_date",
            "DATE",
            "Date released from custody (custody only; null otherwise).",
            nullable=True,
        ),
    ),
    foreign_keys=(ForeignKey("person_id", "people", "person_id"),),
    required_in=(ForeignKey("disposal_id", "offences", "disposal_id"),),
    rules=(
        Rule(
            "release_only_after_custody",
            "(disposal_type = 'custody') = (release_date IS NOT NULL)",
            "A release date is present exactly for custodial sentences.",
        ),
        Rule(
            "release_after_sentence",
            "release_date IS NULL OR release_date >= disposal_date",
            "Release from custody is on or after the sentence date.",
        ),
        Rule(
            "release_within_sentence",
            "release_date IS NULL OR release_date <= disposal_date + sentence_length_days",
            "Release is no later than the end of the sentence.",
        ),
        Rule(
            "custody_has_length",
            "disposal_type <> 'custody' OR sentence_length_days > 0",
            "Custodial sentences carry a positive length.",
        ),
        Rule(
            "disposal_after_birth",
            "disposal_date > r.date_of_birth + INTERVAL 10 YEAR",
            "Nobody is sanctioned before the age of criminal responsibility (10).",
            join=ForeignKey("person_id", "people", "person_id"),
        ),
    ),
)

OFFENCES = Table(
    name="offences",
    description="One row per proven offence, tied to the disposal that proved it.",
    primary_key="offence_id",
    columns=(
        Column("offence_id", "BIGINT", "Offence key.", unique=True),
        Column("person_id", "BIGINT", "The offender (equal to the disposal's person)."),
        Column("disposal_id", "BIGINT", "The disposal (conviction or caution) that proved this offence."),
        Column("offence_date", "DATE", "Date the offence was committed."),
        Column("offence_group", "VARCHAR", "MoJ offence group.", codes=OFFENCE_GROUPS),
        Column("is_breach", "BOOLEAN", "True for a breach of a court order or licence."),
    ),
    foreign_keys=(
        ForeignKey("person_id", "people", "person_id"),
        ForeignKey("disposal_id", "disposals", "disposal_id"),
    ),
    rules=(
        Rule(
            "offence_before_proven",
            "offence_date <= r.disposal_date",
            "An offence is committed on or before the date it is proven.",
            join=ForeignKey("disposal_id", "disposals", "disposal_id"),
        ),
        Rule(
            "same_person_as_disposal",
            "person_id = r.person_id",
            "An offence belongs to the person of the disposal that proved it.",
            join=ForeignKey("disposal_id", "disposals", "disposal_id"),
        ),
    ),
)

EMPLOYMENT_BENEFITS = Table(
    name="employment_benefits",
    description=(
        "Linked DWP/HMRC data: one row per person and calendar year with any record; a missing row means "
        "neither employed nor on an out-of-work benefit in that year."
    ),
    primary_key="record_id",
    columns=(
        Column("record_id", "BIGINT", "Row key.", unique=True),
        Column("person_id", "BIGINT", "The person."),
        Column("year", "INTEGER", "Calendar year."),
        Column("employed", "BOOLEAN", "Any P45 employment spell in the year."),
        Column("on_benefit", "BOOLEAN", "Any out-of-work benefit claim in the year."),
    ),
    foreign_keys=(ForeignKey("person_id", "people", "person_id"),),
    optional=True,
)

ASSESSMENTS = Table(
    name="assessments",
    description="Offender assessments (OASys-style): criminogenic needs recorded at an assessment date.",
    primary_key="assessment_id",
    columns=(
        Column("assessment_id", "BIGINT", "Assessment key.", unique=True),
        Column("person_id", "BIGINT", "The person assessed."),
        Column("assessment_date", "DATE", "Date of the assessment."),
        Column("accommodation_need", "BOOLEAN", "Accommodation identified as a need."),
        Column("ete_need", "BOOLEAN", "Education, training and employability identified as a need."),
        Column("drug_need", "BOOLEAN", "Drug misuse identified as a need."),
        Column("alcohol_need", "BOOLEAN", "Alcohol misuse identified as a need."),
    ),
    foreign_keys=(ForeignKey("person_id", "people", "person_id"),),
    optional=True,
)

#: Every raw table, in load order (referenced tables first).
TABLES: tuple[Table, ...] = (PEOPLE, ALIASES, DISPOSALS, OFFENCES, EMPLOYMENT_BENEFITS, ASSESSMENTS)


def table(name: str) -> Table:
    """Return the contract for raw table ``name``; the error lists the valid names."""
    for t in TABLES:
        if t.name == name:
            return t
    raise KeyError(f"no raw table {name!r}; the store holds {', '.join(t.name for t in TABLES)}")
