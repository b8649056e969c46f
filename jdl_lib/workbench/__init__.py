"""The analyst's workbench: explore a request interactively before its report goes out (issue 12).

* :class:`Request` (:mod:`.request`): a request prepared once through the pipeline's own stages and held
  open in a private workspace; aggregate views of any design; the locked design and its outcomes;
  the locked design saved as a parameter file ``jdl run`` accepts.
* :mod:`.views`: balance, effective sample size, who linkage and matching lost, in aggregate.
* :mod:`.speccurve`: the specification curve over reasonable designs with a permutation null band.
* :mod:`.figures`: the workbench's charts, as PNG images for widgets.
* :mod:`.app`: the ipywidgets panel of ``notebooks/workbench.ipynb``.
* :mod:`.notebook_privacy`: strips outputs from notebooks when Jupyter saves them.
"""

from jdl_lib.workbench.request import Request, WorkbenchError, design_hash, design_record
from jdl_lib.workbench.speccurve import SpecificationCurve, design_grid, specification_curve
from jdl_lib.workbench.views import DesignView, effective_sample_size

__all__ = [
    "DesignView",
    "Request",
    "SpecificationCurve",
    "WorkbenchError",
    "design_grid",
    "design_hash",
    "design_record",
    "effective_sample_size",
    "specification_curve",
]
