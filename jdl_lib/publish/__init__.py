"""The published site: every released report indexed, synthesised by service type, and a power calculator.

``build_site`` (``jdl publish OUT_DIR``) reads only the released reports' results.json files and report
files, writes plain HTML with a little client-side JavaScript (no server), and runs the output scan over
everything it wrote before the site replaces an earlier one.
"""

from jdl_lib.publish.site import SiteBuild, build_site

__all__ = ["SiteBuild", "build_site"]
