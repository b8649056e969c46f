"""A request opened for exploration: prepared once through the pipeline's own stages, explored many times.

:class:`Request` is what an analyst holds in the workbench. Opening it runs intake, linkage, index events
and the candidate pool once, with :func:`jdl_lib.pipeline.prepare_request` (the function ``jdl run``
calls), inside a private :class:`~jdl_lib.privacy.RunWorkspace`; every design is then matched with
:func:`jdl_lib.pipeline.design_request` and its outcomes computed with
:func:`jdl_lib.pipeline.analyse_design`, so what the analyst sees is what the report will say.

Only aggregates come out (:mod:`jdl_lib.workbench.views`). Exploring never releases a report and never
writes the differencing registry; it writes the audit log: opening, each locked design (settings and
balance, no personal data), each look at the outcomes, and the workspace's deletion on close.

Outcomes follow a *locked design*: they stay hidden while the design is tuned, and are shown only for the
design the analyst locked (the practice of large observational-study networks, which fixes the design
before anyone sees an effect). Changing a setting unlocks it; every look is counted in the audit log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import weakref
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from jdl_lib.errors import DisclosureError, JdlError, MatchingError, SpecError
from jdl_lib.pipeline import (
    Analysis,
    Design,
    PreparedRequest,
    analyse_design,
    design_request,
    prepare_request,
)
from jdl_lib.privacy import (
    RunWorkspace,
    append_audit_record,
    code_version,
    is_complete,
    keyed_file_hash,
    lab_secret,
)
from jdl_lib.privacy.audit import read_audit_log
from jdl_lib.privacy.lab import LAB_FOLDER, keyed_hash, open_lab
from jdl_lib.spec import MatchingSpec, RequestSpec, load_spec, project_root
from jdl_lib.store import NationalStore, Provenance
from jdl_lib.workbench.speccurve import SpecificationCurve, design_grid, specification_curve
from jdl_lib.workbench.views import (
    DesignView,
    analysed_vs_dropped,
    design_view,
    linked_vs_unlinked,
    refused_view,
)

log = logging.getLogger(__name__)


class WorkbenchError(JdlError):
    """A workbench action that cannot be done as asked (e.g. outcomes before a locked design)."""


def design_record(matching: MatchingSpec) -> dict[str, Any]:
    """A design's settings as plain data (what the audit log and a saved parameter file hold)."""
    d = asdict(matching)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def design_hash(matching: MatchingSpec) -> str:
    """SHA-256 of a design's settings: the same design always gives the same hash."""
    return hashlib.sha256(json.dumps(design_record(matching), sort_keys=True).encode()).hexdigest()


def default_outputs(params: Path) -> Path:
    """The outputs folder ``jdl run`` uses for a project: ``outputs/`` beside its ``pyproject.toml``."""
    return project_root(params.resolve().parent) / "outputs"


def _released_without_upload(params: Path, outputs: Path) -> str | None:
    """If ``params`` names a request that was released and whose upload is gone, say so; else None."""
    try:
        raw = yaml.safe_load(params.read_text(encoding="utf-8"))
        request_id, upload = str(raw["request_id"]), (params.parent / str(raw["upload"])).resolve()
    except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError):
        return None
    if upload.exists():
        return None
    lab = outputs / LAB_FOLDER
    log_ = read_audit_log(directory=lab) if lab.is_dir() else []
    released = [r for r in log_ if r.get("request_id") == request_id and r.get("released")]
    if not released and not is_complete(outputs / request_id):
        return None
    when = f" on {str(released[-1].get('finished', ''))[:10]}" if released else ""
    return (
        f"request '{request_id}' was released{when} and its "
        "upload deleted, as the lab promises the organisation, so it cannot be reopened. To keep a request "
        "open after its report, run it with `jdl run --keep-upload`; otherwise ask the organisation to "
        "submit its file again."
    )


class Request:
    """One request held open for exploration; build with :meth:`open`, end with :meth:`close`.

    Use as a context manager, or call :meth:`close` (the workspace is also deleted when the object is
    garbage-collected or the interpreter exits). Public attributes are aggregates or settings only.
    """

    def __init__(
        self,
        spec: RequestSpec,
        prepared: PreparedRequest,
        provenance: Provenance,
        workspace: RunWorkspace,
        lab: Path,
    ) -> None:
        self.spec = spec
        self._lab = lab
        self._prepared = prepared
        self._provenance = provenance
        self._workspace = workspace
        self._designs: dict[MatchingSpec, Design | str] = {}
        self._propensity: dict[tuple[str, ...], np.ndarray] = {}
        self.locked: MatchingSpec | None = None
        self.outcome_looks = 0
        self._finalizer = weakref.finalize(self, workspace.cleanup)

    # --- life cycle ------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        params: str | os.PathLike[str],
        root: str | os.PathLike[str] | None = None,
        outputs: str | os.PathLike[str] | None = None,
    ) -> Request:
        """Read the parameter file and prepare the request once (intake, linkage, index events, pool).

        Parameters
        ----------
        params : path
            The request's parameter file, as ``jdl run`` takes it.
        root : path, optional
            Folder every path in the file must stay inside (default: the project holding the file).
        outputs : path, optional
            The outputs folder whose lab (audit log, differencing registry) ``jdl run`` uses for this
            request (default: ``outputs/`` of the project holding the file). Only the audit log is written.

        Raises
        ------
        WorkbenchError
            If the request was released and its upload deleted (it cannot be reopened).
        SpecError, IntakeError, DisclosureError
            As ``jdl run`` would raise them for this file.
        """
        params = Path(params)
        outputs = Path(outputs) if outputs is not None else default_outputs(params)
        try:
            spec = load_spec(params, root)
        except SpecError:
            closed = _released_without_upload(params.resolve(), outputs)
            if closed:
                raise WorkbenchError(closed) from None
            raise
        lab = open_lab(outputs)
        workspace = RunWorkspace(spec.request_id).__enter__()
        try:
            with NationalStore.open(spec.store) as store:
                store.connection.execute(f"SET temp_directory = '{workspace.path}'")
                prepared = prepare_request(spec, store, Path(spec.upload))
                provenance = store.provenance
        except BaseException:
            workspace.__exit__(None, None, None)
            raise
        request = cls(spec, prepared, provenance, workspace, lab)
        request._audit(
            "workbench_open",
            {
                "spec_hash": hashlib.sha256(params.read_bytes()).hexdigest(),
                "upload_hash": keyed_file_hash(lab_secret(lab), spec.upload),
                "data_version": provenance.content_hash,
                "counts": {s.key: s.count for s in prepared.attrition.stages},
                "swept": len(workspace.swept),
            },
        )
        log.info("request %s opened in the workbench", spec.request_id)
        return request

    def close(self) -> None:
        """Delete the workspace and drop the person-level data; record the deletion in the audit log."""
        if self._workspace.path is None or self._workspace.deleted:
            return
        self._workspace.__exit__(None, None, None)
        self._designs.clear()
        self._propensity.clear()
        self._audit("workbench_close", {"workspace_deleted": self._workspace.deleted})

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._workspace.deleted

    def __enter__(self) -> Request:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("locked" if self.locked else "open")
        return f"<Request {self.spec.request_id} ({state})>"

    def _audit(self, event: str, fields: dict[str, Any]) -> None:
        append_audit_record(
            event,
            {
                "request_id": self.spec.request_id,
                "organisation": keyed_hash(lab_secret(self._lab), "org:" + self.spec.organisation_id),
                "code_version": code_version(),
                "started": datetime.now(UTC).isoformat(timespec="seconds"),
                **fields,
            },
            directory=self._lab,
            upload_people=None if self.closed else self._prepared.upload_people,
        )

    def _check_open(self) -> None:
        if self.closed:
            raise WorkbenchError(
                f"request '{self.spec.request_id}' is closed; open it again with Request.open"
            )

    # --- designs ---------------------------------------------------------------------------------

    @property
    def matching(self) -> MatchingSpec:
        """The matching settings of the parameter file (the starting design)."""
        return self.spec.matching

    def _design(self, matching: MatchingSpec) -> Design:
        """Match with ``matching`` (cached); a refusal by the disclosure rules is cached as its message."""
        self._check_open()
        if matching not in self._designs:
            try:
                self._designs[matching] = design_request(self._prepared, matching)
            except (DisclosureError, MatchingError) as exc:
                self._designs[matching] = f"{type(exc).__name__}: {exc}"
        found = self._designs[matching]
        if isinstance(found, str):
            raise WorkbenchError(found)
        return found

    def view(self, matching: MatchingSpec | None = None, sd: str = "treated") -> DesignView:
        """The aggregate view of a design (default: the parameter file's), SMDs in the ``sd`` convention."""
        self._check_open()
        matching = matching or self.matching
        try:
            design = self._design(matching)
        except WorkbenchError as exc:
            return refused_view(matching, str(exc))
        return design_view(design, self.spec.disclosure.cell_threshold, sd)

    def compare_dropped(self, matching: MatchingSpec | None = None) -> dict[str, Any]:
        """Who linkage and matching lost, in aggregate: two tables of group means with group sizes.

        ``"linkage"`` compares linked and unlinked people on the upload's own fields; ``"matching"``
        compares the treated people analysed with those the caliper or exact strata dropped, on the
        design's covariates. Groups under the cell threshold are described by their size only.
        """
        threshold = self.spec.disclosure.cell_threshold
        out: dict[str, Any] = {"linkage": linked_vs_unlinked(self._prepared, threshold)}
        try:
            out["matching"] = analysed_vs_dropped(self._design(matching or self.matching), threshold)
        except WorkbenchError as exc:
            out["refused"] = str(exc)
        return out

    # --- the locked design and its outcomes ------------------------------------------------------

    def lock(self, matching: MatchingSpec | None = None) -> DesignView:
        """Lock a design before seeing outcomes: record its settings and balance in the audit log.

        Raises
        ------
        WorkbenchError
            If the design was refused (e.g. too few people matched): there is nothing to lock.
        """
        matching = matching or self.matching
        view = self.view(matching)
        if not view.ok:
            raise WorkbenchError(f"this design cannot be locked: {view.refused}")
        self.locked = matching
        self._audit(
            "design_lock",
            {
                "design": json.dumps(design_record(matching), sort_keys=True),
                "design_hash": design_hash(matching),
                "balance_verdict": view.verdict,
                "max_abs_smd": round(view.max_abs_smd, 4),
                "counts": {s["stage"]: int(s["count"]) for s in view.sections["attrition"]["stages"]},
                "outcome_looks": self.outcome_looks,
            },
        )
        log.info("design %s locked for request %s", design_hash(matching)[:12], self.spec.request_id)
        return view

    def unlock(self) -> None:
        """Unlock the design (a setting changed): outcomes are hidden again until the next lock."""
        if self.locked is not None:
            self._audit("design_unlock", {"design_hash": design_hash(self.locked)})
            self.locked = None

    def is_locked(self, matching: MatchingSpec | None = None) -> bool:
        """True if ``matching`` (default: the parameter file's) is the locked design."""
        return self.locked is not None and self.locked == (matching or self.matching)

    def outcomes(self) -> dict[str, Any]:
        """The locked design's results, exactly as ``jdl run`` would write them to results.json.

        Each call is a look at the outcomes and is counted in the audit log.

        Raises
        ------
        WorkbenchError
            If no design is locked (outcomes stay hidden while the design is tuned).
        """
        if self.locked is None:
            raise WorkbenchError("outcomes are hidden until a design is locked; lock the design first")
        analysis = self._analysis(self.locked)
        self.outcome_looks += 1
        self._audit(
            "outcome_look", {"design_hash": design_hash(self.locked), "outcome_looks": self.outcome_looks}
        )
        return analysis.results

    def _analysis(self, matching: MatchingSpec) -> Analysis:
        design = self._design(matching)
        prepared = replace(self._prepared, spec=replace(self.spec, matching=matching))
        return analyse_design(prepared, design, self._provenance)

    # --- handing the design to the report ---------------------------------------------------------

    def save_settings(self, path: str | os.PathLike[str]) -> Path:
        """Write the locked design as a parameter file that ``jdl run`` and ``jdl batch`` accept unchanged.

        Everything but ``matching`` is copied from the request's parameter file; relative paths are
        rewritten for the new file's folder. The file is read back with the same checks ``jdl run`` uses.

        Raises
        ------
        WorkbenchError
            If no design is locked, the file would leave the project folder, or the parameter file does not
            take the design (e.g. a method the registry has but ``jdl run`` does not accept yet); nothing is
            written then.
        """
        if self.locked is None:
            raise WorkbenchError("lock a design before saving its settings; only a locked design is saved")
        source = Path(self.spec.source)
        path = Path(path).resolve()
        root = project_root(source.parent)
        if not path.is_relative_to(root):
            raise WorkbenchError(f"{path} is outside the project folder {root}; save the settings inside it")
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
        for key, value in (("upload", self.spec.upload), ("store", self.spec.store)):
            if key in raw:
                raw[key] = os.path.relpath(value, path.parent)
        raw["matching"] = design_record(self.locked)
        header = (
            f"# Saved from the jdl workbench: design {design_hash(self.locked)[:12]} locked after "
            f"{self.outcome_looks} outcome look(s).\n# Based on {os.path.relpath(source, path.parent)}.\n"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(f".{path.name}.saving")
        staged.write_text(header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
        try:
            load_spec(staged, root)
        except SpecError as exc:
            staged.unlink()
            raise WorkbenchError(
                f"`jdl run` does not accept this design yet, so it was not saved ({exc}); lock a design "
                "whose settings the parameter file takes"
            ) from None
        staged.replace(path)
        return path

    # --- robustness of the conclusion to the design ------------------------------------------------

    def specification_curve(
        self,
        grid: Sequence[tuple[str, MatchingSpec]] | None = None,
        permutations: int = 20,
        seed: int | None = None,
    ) -> SpecificationCurve:
        """Estimate every reasonable design and a permutation null band (see :mod:`.speccurve`).

        Shown only after a design is locked, so the curve cannot be used to pick a design by its effect;
        computing it is a look at the outcomes and is counted in the audit log.

        Raises
        ------
        WorkbenchError
            If no design is locked.
        """
        if self.locked is None:
            raise WorkbenchError("the specification curve shows outcomes: lock a design first")
        self._check_open()
        curve = specification_curve(
            self._prepared,
            self.locked,
            grid if grid is not None else design_grid(self.locked),
            permutations=permutations,
            seed=self.spec.seed if seed is None else seed,
        )
        self.outcome_looks += 1
        self._audit(
            "outcome_look", {"design_hash": design_hash(self.locked), "outcome_looks": self.outcome_looks}
        )
        return curve
