"""Disclosure control and the personal-data lifecycle (issue 8).

* :mod:`~jdl_lib.privacy.disclosure`: minimum analysed group, cell suppression with an LP audit.
* :mod:`~jdl_lib.privacy.differencing`: refuse requests that nearly repeat an earlier group.
* :mod:`~jdl_lib.privacy.workspace`: owner-only run workspace deleted on any exit; atomic report release.
* :mod:`~jdl_lib.privacy.audit`: append-only, hash-chained audit log with no personal data.
* :mod:`~jdl_lib.privacy.scanner`: search every output for the upload's identifiers before release.

See ``SECURITY.md`` for what the lab promises and how each promise is tested.
"""

from jdl_lib.privacy.audit import (
    AUDIT_FIELDS,
    AuditLogError,
    append_audit_record,
    code_version,
    read_audit_log,
    verify_audit_log,
)
from jdl_lib.privacy.differencing import (
    DEFAULT_MIN_DIFFERENCE,
    MAX_MIN_DIFFERENCE,
    DifferencingCheck,
    DifferencingError,
    check_differencing,
    check_request_id,
    forget_request,
    record_request,
)
from jdl_lib.privacy.disclosure import (
    DEFAULT_THRESHOLD,
    MINIMUM_GROUP,
    SECONDARY_MARKER,
    TEST_OVERRIDE_ENV,
    MinimumGroupCheck,
    SuppressedCell,
    SuppressionResult,
    check_minimum_group,
    feasible_ranges,
    primary_marker,
    suppress_table,
    suppression_note,
)
from jdl_lib.privacy.lab import keyed_file_hash, lab_dir, lab_secret, open_lab
from jdl_lib.privacy.scanner import Finding, assert_no_personal_data, identifiers_from_upload, scan_outputs
from jdl_lib.privacy.workspace import (
    COMPLETE_MARKER,
    ReleasedOutputs,
    RunWorkspace,
    StagedOutputs,
    is_complete,
)

__all__ = [
    "AUDIT_FIELDS",
    "COMPLETE_MARKER",
    "DEFAULT_MIN_DIFFERENCE",
    "DEFAULT_THRESHOLD",
    "MAX_MIN_DIFFERENCE",
    "MINIMUM_GROUP",
    "SECONDARY_MARKER",
    "TEST_OVERRIDE_ENV",
    "AuditLogError",
    "DifferencingCheck",
    "DifferencingError",
    "Finding",
    "MinimumGroupCheck",
    "ReleasedOutputs",
    "RunWorkspace",
    "StagedOutputs",
    "SuppressedCell",
    "SuppressionResult",
    "append_audit_record",
    "assert_no_personal_data",
    "check_differencing",
    "check_request_id",
    "check_minimum_group",
    "code_version",
    "feasible_ranges",
    "forget_request",
    "identifiers_from_upload",
    "is_complete",
    "keyed_file_hash",
    "lab_dir",
    "lab_secret",
    "open_lab",
    "primary_marker",
    "read_audit_log",
    "record_request",
    "scan_outputs",
    "suppress_table",
    "suppression_note",
    "verify_audit_log",
]
